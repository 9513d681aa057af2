// Makes Abseil's Mutex and CondVar visible to ThreadSanitizer in the TSan build tree.
//
// Debian builds libabsl_synchronization without TSan, so TSan sees neither the locking nor the
// unlocking of an absl::Mutex, and reports every access that one guards as a race between
// covtrack's own frames (checked: two threads incrementing an int under absl::MutexLock are
// reported). This library, linked ahead of Abseil into every program of the TSan tree
// (-DCOVTRACK_SANITIZE=thread), defines the Mutex and CondVar entry points that covtrack and
// gRPC call: each tells TSan what it does (the annotations Abseil itself makes when it is built
// with TSan) and calls Abseil's own definition, found with dlsym(RTLD_NEXT). The *WithTimeout
// variants are left to Abseil: they call the *WithDeadline ones through the PLT, which land
// here (annotating both would release the mutex twice). Never built into a program that ships.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace {

#define COVTRACK_STRINGIFY_INNER(x) #x
#define COVTRACK_STRINGIFY(x) COVTRACK_STRINGIFY_INNER(x)

// The mangled name of absl::<inline namespace>::<rest>, e.g. Mutex4LockEv.
std::string AbslSymbol(const char* rest) {
  const std::string inline_namespace = COVTRACK_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  return "_ZN4absl" + std::to_string(inline_namespace.size()) + inline_namespace + rest;
}

template <typename Function>
Function Abseils(const char* rest) {
  const std::string name = AbslSymbol(rest);
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "absl_mutex_tsan: %s not found in Abseil\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Function>(f);
}

// Tells TSan that `mu` is released and then taken again around a wait inside Abseil.
class ReleasedWhileWaiting {
 public:
  explicit ReleasedWhileWaiting(void* mu) : mu_(mu) {
    __tsan_mutex_pre_unlock(mu_, 0);
    __tsan_mutex_post_unlock(mu_, 0);
  }
  ~ReleasedWhileWaiting() {
    __tsan_mutex_pre_lock(mu_, 0);
    __tsan_mutex_post_lock(mu_, 0, 0);
  }

 private:
  void* mu_;
};

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

Mutex::~Mutex() {
  static const auto real = Abseils<void (*)(Mutex*)>("5MutexD1Ev");
  real(this);
  __tsan_mutex_destroy(this, 0);
}

void Mutex::Lock() {
  static const auto real = Abseils<void (*)(Mutex*)>("5Mutex4LockEv");
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::Unlock() {
  static const auto real = Abseils<void (*)(Mutex*)>("5Mutex6UnlockEv");
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

bool Mutex::TryLock() {
  static const auto real = Abseils<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(this, __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed),
                         0);
  return locked;
}

void Mutex::ReaderLock() {
  static const auto real = Abseils<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

void Mutex::ReaderUnlock() {
  static const auto real = Abseils<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  __tsan_mutex_pre_unlock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_unlock(this, __tsan_mutex_read_lock);
}

bool Mutex::ReaderTryLock() {
  static const auto real = Abseils<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  const int flags = __tsan_mutex_read_lock | __tsan_mutex_try_lock;
  __tsan_mutex_pre_lock(this, flags);
  const bool locked = real(this);
  __tsan_mutex_post_lock(this, flags | (locked ? 0 : __tsan_mutex_try_lock_failed), 0);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real =
      Abseils<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  __tsan_mutex_pre_lock(this, 0);
  real(this, cond);
  __tsan_mutex_post_lock(this, 0, 0);
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = Abseils<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_mutex_pre_lock(this, 0);
  const bool met = real(this, cond, deadline);
  __tsan_mutex_post_lock(this, 0, 0);  // held on return, whether or not cond holds
  return met;
}

// The reader's forms (LockFresh takes the state's reader lock with ReaderLockWhenWithDeadline):
// without them TSan saw that read as unguarded and reported a race with the follower's writes.
void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real =
      Abseils<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this, cond);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = Abseils<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  const bool met = real(this, cond, deadline);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);  // held on return, as above
  return met;
}

void Mutex::Await(const Condition& cond) {
  static const auto real =
      Abseils<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  ReleasedWhileWaiting released(this);
  real(this, cond);
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = Abseils<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  ReleasedWhileWaiting released(this);
  return real(this, cond, deadline);
}

void CondVar::Wait(Mutex* mu) {
  static const auto real = Abseils<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  ReleasedWhileWaiting released(mu);
  real(this, mu);
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static const auto real = Abseils<bool (*)(CondVar*, Mutex*, absl::Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  ReleasedWhileWaiting released(mu);
  return real(this, mu, deadline);
}

ABSL_NAMESPACE_END
}  // namespace absl
