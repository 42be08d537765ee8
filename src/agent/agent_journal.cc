#include "oriel/agent/agent_journal.h"

namespace oriel::agent {

AgentJournal::AgentJournal(LocalAgent& agent, std::string epoch) : agent_(agent), epoch_(std::move(epoch)) {
  agent_.set_exit_handler([this](const std::string& vm_id, VmExit why) { exited(vm_id, why); });
  // A migration that arrives is no command here: the heartbeat that lists
  // the VM goes at once, not at the next tick.
  agent_.set_arrival_handler([this](const std::string&) { changed(); });
}

void AgentJournal::changed() {
  std::function<void()> listener;
  {
    MutexLock lock(mu_);
    ++seq_;
    listener = listener_;
  }
  if (listener) listener();
}

void AgentJournal::exited(const std::string& vm_id, VmExit why) {
  std::function<void()> listener;
  {
    MutexLock lock(mu_);
    exits_.push_back({++seq_, vm_id, why});
    if (exits_.size() > kKeptExits) exits_.pop_front();
    listener = listener_;
  }
  if (listener) listener();
}

AgentSnapshot AgentJournal::snapshot() {
  // The order matters. The counter first: a command that finished before
  // it (its change() comes after its effect) shows in the statuses read
  // next, so the snapshot is never older than its number says. The exits
  // last: LocalAgent reports an exit before the VM leaves its list, so a VM
  // missing from the statuses has its reason in the exits read after.
  AgentSnapshot s;
  s.epoch = epoch_;
  {
    MutexLock lock(mu_);
    s.seq = seq_;
  }
  s.vms = agent_.vms();
  MutexLock lock(mu_);
  s.exits.assign(exits_.begin(), exits_.end());
  return s;
}

void AgentJournal::set_listener(std::function<void()> on_change) {
  MutexLock lock(mu_);
  listener_ = std::move(on_change);
}

}  // namespace oriel::agent
