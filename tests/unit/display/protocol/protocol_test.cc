#include "oriel/display/protocol.h"

#include <gtest/gtest.h>

namespace oriel::display {
namespace {

using namespace std::string_literals;

TEST(ProtocolTest, EveryClientMessageSurvivesItsEncoding) {
  std::vector<ClientMessage> all = {ClientHello{1, 1280, 800},
                                    KeyEvent{true, 0xe4, 0x28},
                                    PointerEvent{65535, 3, 0x19},
                                    ClipboardText{"grüße\nwelt"},
                                    FrameAck{0xFFFFFFFF},
                                    CtrlAltDel{},
                                    RequestSize{1920, 1080},
                                    Refresh{},
                                    Ping{0xDEADBEEF}};
  for (const auto& m : all) {
    auto parsed = parse_client_message(encode_client_message(m));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->index(), m.index());
    EXPECT_EQ(encode_client_message(*parsed), encode_client_message(m));
  }
}

TEST(ProtocolTest, FieldsAreLittleEndianAtTheDocumentedOffsets) {
  EXPECT_EQ(encode_client_message(KeyEvent{true, 0x01020304, 0xE048}), "\x82\x01\x04\x03\x02\x01\x48\xE0"s);
  std::string out;
  write_copy(out, 1, 2, Rect{5, 6, 3, 4});
  EXPECT_EQ(out, "\x11\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06\x00"s);
  out.clear();
  write_frame_end(out, 7, 0x0100);
  EXPECT_EQ(out, "\x40\x07\x00\x00\x00\x00\x01\x00\x00"s);
  out.clear();
  write_server_hello(out, 2, 1280, 800, kClipboardToDesktop | kClipboardToClient, "d-1");
  EXPECT_EQ(out, "\x01\x02\x00\x00\x05\x20\x03\x03\x03\x00\x00\x00"
                 "d-1"s);
  out.clear();
  write_pong(out, 0x01020304);
  EXPECT_EQ(out, "\x41\x04\x03\x02\x01"s);
  EXPECT_EQ(encode_client_message(Ping{0x01020304}), "\x89\x04\x03\x02\x01"s);
}

TEST(ProtocolTest, MalformedMessagesAreErrorsThatNameTheMessage) {
  struct Case {
    std::string bytes, message;
  };
  std::vector<Case> cases = {
      {""s, "empty message"},
      {"\x7f"s, "unknown message type 0x7f"},
      {"\x01\x01\x00"s, "unknown message type 0x01"},  // a server message from a client
      {"\x82\x01\x04\x03"s, "Key: truncated message"},
      {"\x82\x02\x00\x00\x00\x00\x00\x00"s, "Key: 'down' is neither 0 nor 1"},
      {"\x85\x01\x00\x00\x00\x00"s, "FrameAck: 1 bytes too many"},
      {"\x86\x00"s, "CtrlAltDel: 1 bytes too many"},
      {"\x89\x01\x02"s, "Ping: truncated message"},
      {"\x81\x00\x00\x00\x05\x00\x05"s, "ClientHello: version 0"},
      {"\x87\x00\x00\x10\x00"s, "RequestSize: a zero width or height"},
      {"\x83\x01\x00\x01\x00\x80"s, "Pointer: button bit 7 is not defined"},
      {"\x84\x05\x00\x00\x00"
       "abc"s,
       "Clipboard: truncated message"},
      {"\x84\x02\x00\x00\x00\xc3\x28"s, "Clipboard: text is not UTF-8"},
      {"\x84\xff\xff\xff\xff"s, "Clipboard: text of 4294967295 bytes, more than 1048576"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_client_message(c.bytes);
    ASSERT_FALSE(parsed.ok()) << c.message;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parsed.error().message(), c.message);
  }
}

TEST(ProtocolTest, TheVersionIsTheLowerOfTheClientsAndTheGateways) {
  EXPECT_EQ(negotiated_version(1), 1);
  EXPECT_EQ(negotiated_version(2), 2);
  EXPECT_EQ(negotiated_version(9), kProtocolVersion);
}

TEST(ProtocolTest, TheLargestClipboardIsAcceptedAndOneByteMoreIsNot) {
  std::string text(kMaxClipboardBytes, 'x');
  auto ok = parse_client_message(encode_client_message(ClipboardText{text}));
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(std::get<ClipboardText>(*ok).text.size(), kMaxClipboardBytes);
  auto big = parse_client_message(encode_client_message(ClipboardText{text + "x"}));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message().find("more than"), std::string::npos) << big.error().message();
}

TEST(ProtocolTest, EveryPrefixOfAValidMessageIsRefused) {
  for (const auto& m :
       {encode_client_message(ClientHello{1, 800, 600}), encode_client_message(KeyEvent{false, 65, 30}),
        encode_client_message(PointerEvent{1, 2, 1}), encode_client_message(ClipboardText{"hi"}),
        encode_client_message(FrameAck{9}), encode_client_message(RequestSize{4, 4}), encode_client_message(Ping{7})}) {
    for (size_t n = 0; n < m.size(); ++n) EXPECT_FALSE(parse_client_message(m.substr(0, n)).ok()) << n;
  }
}

}  // namespace
}  // namespace oriel::display
