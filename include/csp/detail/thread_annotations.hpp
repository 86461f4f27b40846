// thread_annotations.hpp: Clang's -Wthread-safety attributes, empty elsewhere.
//
// They let the compiler check that a member marked CSP_GUARDED_BY(lock_) is touched only with
// lock_ held. GCC ignores them; the Clang builds (asan-ubsan preset) enforce them.
#pragma once

#if defined(__clang__)
#define CSP_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CSP_THREAD_ANNOTATION(x)
#endif

#define CSP_CAPABILITY(name) CSP_THREAD_ANNOTATION(capability(name))
#define CSP_SCOPED_CAPABILITY CSP_THREAD_ANNOTATION(scoped_lockable)
#define CSP_GUARDED_BY(x) CSP_THREAD_ANNOTATION(guarded_by(x))
#define CSP_REQUIRES(...) CSP_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define CSP_ACQUIRE(...) CSP_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define CSP_RELEASE(...) CSP_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define CSP_TRY_ACQUIRE(...) CSP_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define CSP_NO_THREAD_SAFETY_ANALYSIS CSP_THREAD_ANNOTATION(no_thread_safety_analysis)
