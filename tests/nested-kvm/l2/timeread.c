/* timeread SECONDS [spin]: reads CLOCK_MONOTONIC in a loop for SECONDS (as
 * the clock itself measures them) and prints how many reads it made and
 * their rate. Inside an L2 Linux guest it is how often user space can read
 * the time, through the vDSO where the clocksource allows it (the Hyper-V
 * TSC page with a valid sequence) and through a system call and an exit
 * where it does not (an invalid page, acpi_pm). With `spin` it keeps the
 * CPU as busy for as long but reads the clock only once per 2^20 loop
 * turns: the baseline of what the kernel itself reads meanwhile (timer
 * ticks), which the host subtracts from its exit count. Built static by
 * the nested stage, so the guest needs no libc of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile unsigned long sink;

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 1.0;
  const int spin = argc > 2 && strcmp(argv[2], "spin") == 0;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  const long long end_ns = (long long)start.tv_sec * 1000000000LL + start.tv_nsec + (long long)(seconds * 1e9);
  unsigned long long reads = 1, backwards = 0;
  long long last = (long long)start.tv_sec * 1000000000LL + start.tv_nsec, t;
  do {
    if (spin)
      for (unsigned long i = 0; i < (1ul << 20); ++i) sink = i;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ++reads;
    t = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    if (t < last) ++backwards;
    last = t;
  } while (t < end_ns);
  const double took = (double)(t - ((long long)start.tv_sec * 1000000000LL + start.tv_nsec)) / 1e9;
  printf("reads=%llu seconds=%.3f rate=%.0f backwards=%llu\n", reads, took, (double)reads / took, backwards);
  return backwards == 0 ? 0 : 1;
}
