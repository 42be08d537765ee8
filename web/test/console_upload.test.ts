// Upload planning: chunks at the offset the server has, formats from names,
// the rate and the time left.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHUNK_BYTES, RateMeter, chunkCount, formatFromFileName, imageNameFromFile, nextChunk } from '../src/console/upload';

test('chunks continue from what the server has, the last one short', () => {
  const size = 16 * 1024 * 1024 + 512;  // a fixed VHD: the disk and its footer
  assert.equal(CHUNK_BYTES, 1024 * 1024);
  assert.equal(chunkCount(size), 17);
  assert.deepEqual(nextChunk(size, 0), { offset: 0, length: CHUNK_BYTES });
  assert.deepEqual(nextChunk(size, 5 * CHUNK_BYTES), { offset: 5 * CHUNK_BYTES, length: CHUNK_BYTES });
  assert.deepEqual(nextChunk(size, 16 * CHUNK_BYTES), { offset: 16 * CHUNK_BYTES, length: 512 });
  assert.equal(nextChunk(size, size), null);
  assert.deepEqual(nextChunk(size, 123), { offset: 123, length: CHUNK_BYTES });  // resumes mid-chunk too
  let received = 0, sent = 0;
  for (let c = nextChunk(size, received); c; c = nextChunk(size, received)) {
    assert.equal(c.offset, received);
    received += c.length;
    sent++;
  }
  assert.equal(received, size);
  assert.equal(sent, 17);
});

test('formats and names come from the file name', () => {
  assert.equal(formatFromFileName('Win11.VHD'), 'vpc');
  assert.equal(formatFromFileName('disk.vhdx'), 'vhdx');
  assert.equal(formatFromFileName('debian.qcow2'), 'qcow2');
  assert.equal(formatFromFileName('disk.img'), 'raw');
  assert.equal(formatFromFileName('disk'), 'auto');
  assert.equal(imageNameFromFile('Windows 11.vhdx'), 'Windows 11');
  assert.equal(imageNameFromFile('.hidden'), '.hidden');
});

test('rate over the last seconds, and the time left at that rate', () => {
  const m = new RateMeter(5000);
  assert.equal(m.rate(0), 0);
  assert.equal(m.eta(100, 0), null);
  m.add(1_000_000, 0);
  m.add(1_000_000, 1000);
  m.add(1_000_000, 2000);
  assert.equal(m.rate(2000), 1_000_000);       // 2 MB in the 2 s after the first sample
  assert.equal(m.eta(10_000_000, 2000), 10);
  m.add(1_000_000, 60_000);                    // a long pause: old samples no longer count
  assert.equal(m.rate(60_000), 0);
});
