#include <pthread.h>

#include <mutex>
#include <new>
#include <unordered_map>

#include "common.h"

namespace tagger::bindings {
namespace {
using Registry = std::unordered_map<const void*, std::shared_ptr<std::shared_mutex>>;
std::mutex registry_mu;
// Entries live while some call holds or waits for them: objects come and go,
// and a recycled address simply gets a fresh entry.
Registry* current = new Registry();
Registry& registry() { return *current; }

// In a child of fork() the threads that held these locks do not exist, and a lock one of them
// held (a Simulator stepping in another thread) blocked the child's every call on that object:
// the child starts with none held. The parent's entries are left behind (their holders' unlocks
// never run in the child), and so is the registry's mutex, which a thread may have held too.
void renew_in_child() {
  new (&registry_mu) std::mutex();
  current = new Registry();
}
[[maybe_unused]] const int at_fork = pthread_atfork(nullptr, nullptr, renew_in_child);
}  // namespace

InstanceLock::InstanceLock(const void* obj, bool exclusive) : obj_(obj), exclusive_(exclusive) {
  {
    std::lock_guard lk(registry_mu);
    auto& slot = registry()[obj];
    if (!slot) slot = std::make_shared<std::shared_mutex>();
    mu_ = slot;
  }
  bool got = exclusive ? mu_->try_lock() : mu_->try_lock_shared();
  if (!got) {
    NoGil release;
    if (exclusive) mu_->lock();
    else mu_->lock_shared();
  }
}

InstanceLock::~InstanceLock() {
  if (exclusive_) mu_->unlock();
  else mu_->unlock_shared();
  std::lock_guard lk(registry_mu);
  auto it = registry().find(obj_);
  if (it != registry().end() && it->second == mu_ && mu_.use_count() == 2) registry().erase(it);
}

}  // namespace tagger::bindings
