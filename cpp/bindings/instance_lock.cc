#include <mutex>
#include <unordered_map>

#include "common.h"

namespace tagger::bindings {
namespace {
std::mutex registry_mu;
// Entries live while some call holds or waits for them: objects come and go,
// and a recycled address simply gets a fresh entry.
std::unordered_map<const void*, std::shared_ptr<std::shared_mutex>>& registry() {
  static auto* r = new std::unordered_map<const void*, std::shared_ptr<std::shared_mutex>>();
  return *r;
}
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
    py::gil_scoped_release release;
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
