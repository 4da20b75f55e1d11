/* tlbstress [SECONDS]: remote TLB flushes under load, checked. One thread
 * per CPU the process may run on, each pinned to its CPU, all in one mm.
 * Round after round the threads fill a shared region with a pattern (each
 * its own pages), all read it back (so every CPU caches every page's
 * translation), then one of them (a different CPU from round to round)
 * changes the mapping while the others keep touching it: munmap,
 * mprotect(PROT_NONE), mprotect(PROT_READ), mremap away, MADV_DONTNEED,
 * mmap(MAP_FIXED) over it. Once the changing thread says its system call
 * has returned, every thread's next access must see the new state: a
 * fault after munmap/PROT_NONE/mremap, a fault on a write after
 * PROT_READ, zeros after DONTNEED or the new mapping. A CPU whose TLB
 * kept the old translation (a remote flush lost or late) reads without
 * faulting, or reads the old page: each such case is an error. The round
 * alternates between the whole region (more pages than Linux flushes one
 * by one, so a full flush) and a few pages (a flush by address).
 *
 * Inside the nested stage's L2 guest this drives Linux's remote TLB flush
 * (with hv-tlbflush: HvCallFlushVirtualAddressSpace/List) and its IPIs
 * (threads sleep at the end of each round; the wake-ups are IPIs, with
 * hv-ipi HvCallSendSyntheticClusterIpi). Prints one line,
 *   TLBSTRESS iterations=N errors=N unexpected_faults=N expected_faults=N cpus=N seconds=S
 * and exits non-zero on any error or unexpected fault. Built static by the
 * nested stage (tests/nested-kvm/run), as the guest has no libc. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define WORDS (PAGE / 8)
/* Above Linux's tlb_single_page_flush_ceiling (33): a whole-region change
 * flushes the address space; a SMALL-page change flushes those addresses. */
#define PAGES 48
#define SMALL 4
#define MAX_THREADS 64

enum op { OP_MUNMAP, OP_PROT_NONE, OP_PROT_READ, OP_MREMAP, OP_DONTNEED, OP_MAP_FIXED, OP_COUNT };
static const char* const op_names[OP_COUNT] = {"munmap", "mprotect-none", "mprotect-read", "mremap", "dontneed",
                                               "mmap-fixed"};

static uint8_t* base;  /* the region, always at this address between rounds */
static uint8_t* alt;   /* where mremap moves it; a PROT_NONE reservation otherwise */
static int nthreads;
static int cpus[MAX_THREADS];

static _Atomic long done_round = -1; /* the changing thread's call returned for this round */
static _Atomic int acks;              /* threads that checked the new state this round */
static _Atomic int stop;
static _Atomic unsigned long errors, unexpected_faults, expected_faults, iterations;
static pthread_barrier_t round_end;

/* A sense-reversing spin barrier: the threads keep running (and their
 * TLBs stay in use) up to the change, instead of sleeping in futex. */
static _Atomic int spin_count;
static _Atomic int spin_sense;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Diagnostics without malloc (a malloc's mmap could land in the hole a
 * munmap just left), and only the first few. */
static _Atomic int reports;
static void report(const char* fmt, ...) {
  if (atomic_fetch_add(&reports, 1) >= 12) return;
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  if (write(2, buf, (size_t)n) < 0) {}
}

static void spin_barrier(int* local_sense) {
  *local_sense = !*local_sense;
  if (atomic_fetch_add(&spin_count, 1) == nthreads - 1) {
    atomic_store(&spin_count, 0);
    atomic_store(&spin_sense, *local_sense);
  } else {
    for (unsigned long i = 0; atomic_load(&spin_sense) != *local_sense; ++i)
      if ((i & 1023) == 1023) sched_yield(); /* a CPU shared with a kernel thread */
  }
}

/* Faults are caught per access: the handler jumps back to the probe that
 * armed it. SA_NODEFER keeps SIGSEGV unblocked after the jump, so the
 * cheap sigsetjmp(…, 0) suffices. */
static __thread sigjmp_buf probe_jump;
static __thread volatile int armed;

static void on_segv(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  if (!armed) {
    char buf[96];
    int n = snprintf(buf, sizeof buf, "tlbstress: SIGSEGV outside a probe at %p\n", si->si_addr);
    if (write(2, buf, (size_t)n) < 0) {}
    _exit(3);
  }
  armed = 0;
  siglongjmp(probe_jump, 1);
}

static void on_alarm(int sig) {
  (void)sig;
  char buf[160];
  int n = snprintf(buf, sizeof buf, "TLBSTRESS iterations=%lu errors=%lu unexpected_faults=%lu expected_faults=%lu cpus=%d timeout=1\n",
                   atomic_load(&iterations), atomic_load(&errors) + 1, atomic_load(&unexpected_faults),
                   atomic_load(&expected_faults), nthreads);
  if (write(1, buf, (size_t)n) < 0) {}
  _exit(2);
}

/* 1 when the access faulted. noinline: each probe's sigsetjmp frame must
 * be the one the handler jumps to. */
__attribute__((noinline)) static int probe_read(const volatile uint64_t* p, uint64_t* value) {
  if (sigsetjmp(probe_jump, 0)) return 1;
  armed = 1;
  *value = *p;
  armed = 0;
  return 0;
}
__attribute__((noinline)) static int probe_write(volatile uint64_t* p, uint64_t value) {
  if (sigsetjmp(probe_jump, 0)) return 1;
  armed = 1;
  *p = value;
  armed = 0;
  return 0;
}
/* A whole page: fill with the round's pattern, or count the words that
 * differ from it; -1 when it faulted (never expected there). */
static uint64_t pattern(long round, int page, unsigned word) {
  return 0x5a00000000000000ull ^ ((uint64_t)round << 24) ^ ((uint64_t)page << 12) ^ word;
}
__attribute__((noinline)) static int fill_page(long round, int page) {
  volatile uint64_t* p = (volatile uint64_t*)(base + page * PAGE);
  if (sigsetjmp(probe_jump, 0)) return -1;
  armed = 1;
  for (unsigned w = 0; w < WORDS; ++w) p[w] = pattern(round, page, w);
  armed = 0;
  return 0;
}
__attribute__((noinline)) static int check_page(long round, int page) {
  const volatile uint64_t* p = (const volatile uint64_t*)(base + page * PAGE);
  volatile int bad = 0;
  if (sigsetjmp(probe_jump, 0)) return -1;
  armed = 1;
  for (unsigned w = 0; w < WORDS; ++w)
    if (p[w] != pattern(round, page, w)) bad = bad + 1;
  armed = 0;
  return bad;
}

static void* map_at(void* at, size_t len, int prot, int extra) {
  void* p = mmap(at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
  if (p == MAP_FAILED || (at && p != at)) {
    report("tlbstress: mmap(%p, %zu) failed: %s", at, len, strerror(errno));
    _exit(2);
  }
  return p;
}
static void must(int ok, const char* what) {
  if (!ok) {
    report("tlbstress: %s failed: %s", what, strerror(errno));
    _exit(2);
  }
}

/* The changing thread's call, and its undoing once every thread checked. */
static void change(enum op op, int pages) {
  const size_t len = (size_t)pages * PAGE;
  switch (op) {
    case OP_MUNMAP: must(munmap(base, len) == 0, "munmap"); break;
    case OP_PROT_NONE: must(mprotect(base, len, PROT_NONE) == 0, "mprotect(PROT_NONE)"); break;
    case OP_PROT_READ: must(mprotect(base, len, PROT_READ) == 0, "mprotect(PROT_READ)"); break;
    case OP_MREMAP:
      must(mremap(base, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, alt) == alt, "mremap away");
      break;
    case OP_DONTNEED: must(madvise(base, len, MADV_DONTNEED) == 0, "madvise(MADV_DONTNEED)"); break;
    case OP_MAP_FIXED: map_at(base, len, PROT_READ | PROT_WRITE, MAP_FIXED); break;
    default: break;
  }
}
static void undo(enum op op, int pages) {
  const size_t len = (size_t)pages * PAGE;
  switch (op) {
    case OP_MUNMAP: map_at(base, len, PROT_READ | PROT_WRITE, MAP_FIXED); break;
    case OP_PROT_NONE:
    case OP_PROT_READ: must(mprotect(base, len, PROT_READ | PROT_WRITE) == 0, "mprotect(RW)"); break;
    case OP_MREMAP:
      must(mremap(alt, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, base) == base, "mremap back");
      /* Keep alt reserved, so no other mapping can appear there. */
      map_at(alt, (size_t)PAGES * PAGE, PROT_NONE, MAP_FIXED | MAP_NORESERVE);
      break;
    default: break;
  }
}

struct stats {
  unsigned long errors, unexpected, expected;
};

/* Before the changing thread says it is done: keep touching the changing
 * pages (old contents or, for the ops that zero, new; a fault or a
 * success are both fine mid-change). */
static void touch_during(long round, enum op op, int pages, unsigned word, struct stats* s) {
  for (int pg = 0; pg < pages; ++pg) {
    volatile uint64_t* p = (volatile uint64_t*)(base + pg * PAGE) + word;
    const uint64_t old = pattern(round, pg, word);
    uint64_t v;
    if (probe_read(p, &v)) continue;
    if (v != old && !(v == 0 && (op == OP_DONTNEED || op == OP_MAP_FIXED))) {
      ++s->errors;
      report("tlbstress: round %ld %s page %d: read 0x%llx mid-change (old 0x%llx)", round, op_names[op], pg,
             (unsigned long long)v, (unsigned long long)old);
    }
    if (op == OP_PROT_READ) (void)probe_write(p, old); /* the same value: harmless if it lands */
  }
}

/* After it: the new state, on every page, from this CPU. */
static void check_after(long round, enum op op, int pages, unsigned word, int cpu, struct stats* s) {
  for (int pg = 0; pg < PAGES; ++pg) {
    volatile uint64_t* p = (volatile uint64_t*)(base + pg * PAGE) + word;
    const uint64_t old = pattern(round, pg, word);
    uint64_t v = 0;
    int faulted = probe_read(p, &v);
    const char* wrong = NULL;
    if (pg >= pages) {
      /* Outside the change: untouched. */
      if (faulted) ++s->unexpected, wrong = "fault outside the changed range";
      else if (v != old) wrong = "wrong value outside the changed range";
    } else {
      switch (op) {
        case OP_MUNMAP:
        case OP_PROT_NONE:
        case OP_MREMAP:
          if (faulted) ++s->expected;
          else wrong = "no fault (a stale TLB entry)";
          break;
        case OP_PROT_READ:
          if (faulted) ++s->unexpected, wrong = "read fault on a read-only page";
          else if (v != old) wrong = "wrong value on a read-only page";
          if (probe_write(p, old)) ++s->expected;
          else wrong = "write did not fault after mprotect(PROT_READ) (a stale writable TLB entry)";
          break;
        case OP_DONTNEED:
        case OP_MAP_FIXED:
          if (faulted) ++s->unexpected, wrong = "fault on a fresh page";
          else if (v != 0) wrong = v == old ? "old contents (a stale TLB entry)" : "neither old nor zero";
          break;
        default: break;
      }
      if (op == OP_MREMAP) {
        /* The pages moved, contents and all. */
        volatile uint64_t* q = (volatile uint64_t*)(alt + pg * PAGE) + word;
        uint64_t w = 0;
        if (probe_read(q, &w)) ++s->unexpected, wrong = "fault at the mremap target";
        else if (w != old) wrong = "wrong value at the mremap target";
      }
    }
    if (wrong) {
      ++s->errors;
      report("tlbstress: round %ld %s (%d pages) cpu %d page %d word %u: %s (read 0x%llx, old 0x%llx)", round,
             op_names[op], pages, cpu, pg, word, wrong, (unsigned long long)v, (unsigned long long)old);
    }
  }
}

struct thread {
  pthread_t id;
  int index;
  double deadline;
};

static void* run(void* arg) {
  struct thread* t = arg;
  const int me = t->index;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[me], &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    report("tlbstress: sched_setaffinity(cpu %d) failed: %s", cpus[me], strerror(errno));
    _exit(2);
  }
  int sense = 0;
  struct stats s = {0, 0, 0};
  for (long round = 0;; ++round) {
    const enum op op = (enum op)(round % OP_COUNT);
    const int changer = (int)((round / OP_COUNT) % nthreads);
    const int pages = (round / (OP_COUNT * nthreads)) % 2 == 0 ? PAGES : SMALL;
    const unsigned word = (unsigned)((round * 7 + me * 131) % WORDS);

    /* Several CPUs write the new pattern, each its own pages... */
    for (int pg = me; pg < PAGES; pg += nthreads)
      if (fill_page(round, pg) < 0) {
        ++s.unexpected;
        report("tlbstress: round %ld cpu %d: fault filling page %d", round, cpus[me], pg);
      }
    if (me == changer) atomic_store(&acks, 0);
    spin_barrier(&sense);
    /* ...every CPU reads all of it (and caches every translation)... */
    for (int pg = 0; pg < PAGES; ++pg) {
      int bad = check_page(round, pg);
      if (bad < 0) {
        ++s.unexpected;
        report("tlbstress: round %ld cpu %d: fault reading page %d", round, cpus[me], pg);
      } else if (bad > 0) {
        ++s.errors;
        report("tlbstress: round %ld cpu %d: page %d has %d word(s) not written this round", round, cpus[me], pg, bad);
      }
    }
    spin_barrier(&sense);
    /* ...then one changes the mapping while the others use it. */
    if (me == changer) {
      change(op, pages);
      atomic_store(&done_round, round);
      check_after(round, op, pages, word, cpus[me], &s);
      for (unsigned long i = 0; atomic_load(&acks) != nthreads - 1; ++i)
        if ((i & 1023) == 1023) sched_yield();
      undo(op, pages);
    } else {
      while (atomic_load(&done_round) != round) touch_during(round, op, pages, word, &s);
      check_after(round, op, pages, word, cpus[me], &s);
      atomic_fetch_add(&acks, 1);
    }
    /* The time is one thread's to judge, before the barrier; everyone
     * reads the verdict after it, so all stop after the same round. */
    if (me == 0) {
      atomic_fetch_add(&iterations, 1);
      if (now() >= t->deadline) atomic_store(&stop, 1);
    }
    /* A sleeping barrier: the wake-ups are IPIs. */
    pthread_barrier_wait(&round_end);
    if (atomic_load(&stop)) break;
  }
  atomic_fetch_add(&errors, s.errors);
  atomic_fetch_add(&unexpected_faults, s.unexpected);
  atomic_fetch_add(&expected_faults, s.expected);
  return NULL;
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 5.0;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    perror("tlbstress: sched_getaffinity");
    return 2;
  }
  for (int c = 0; c < CPU_SETSIZE && nthreads < MAX_THREADS; ++c)
    if (CPU_ISSET(c, &allowed)) cpus[nthreads++] = c;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  signal(SIGALRM, on_alarm);
  /* A lost wake-up or a flush that never returns ends the run, reported. */
  alarm((unsigned)seconds + 120);

  base = map_at(NULL, (size_t)PAGES * PAGE, PROT_READ | PROT_WRITE, 0);
  alt = map_at(NULL, (size_t)PAGES * PAGE, PROT_NONE, MAP_NORESERVE);
  pthread_barrier_init(&round_end, NULL, (unsigned)nthreads);

  static struct thread threads[MAX_THREADS];
  const double start = now();
  for (int i = 0; i < nthreads; ++i) {
    threads[i].index = i;
    threads[i].deadline = start + seconds;
    if (pthread_create(&threads[i].id, NULL, run, &threads[i]) != 0) {
      perror("tlbstress: pthread_create");
      return 2;
    }
  }
  for (int i = 0; i < nthreads; ++i) pthread_join(threads[i].id, NULL);
  const double took = now() - start;

  const unsigned long e = atomic_load(&errors), u = atomic_load(&unexpected_faults),
                      x = atomic_load(&expected_faults), n = atomic_load(&iterations);
  printf("TLBSTRESS iterations=%lu errors=%lu unexpected_faults=%lu expected_faults=%lu cpus=%d seconds=%.2f\n", n, e,
         u, x, nthreads, took);
  return e == 0 && u == 0 && n > 0 && x > 0 ? 0 : 1;
}
