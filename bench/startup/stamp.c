/* Preloaded by ctorbench: its constructor runs once the loader has mapped and relocated
   everything and libc is initialised (an LD_PRELOAD object depends on libc alone, so it is
   among the first initialised), and writes the TSC to the descriptor named by
   RLD_BENCH_STAMP_FD. Spawn -> this stamp is the loader's start-up, program code excluded. */
#include <stdlib.h>
#include <unistd.h>
#include <x86intrin.h>

__attribute__((constructor)) static void stamp(void) {
  const char *fd = getenv("RLD_BENCH_STAMP_FD");
  if (!fd) return;
  unsigned long long t = __rdtsc();
  char buf[24];
  int n = 0;
  do buf[sizeof buf - 1 - n++] = '0' + t % 10; while ((t /= 10) && n < 20);
  (void)!write(atoi(fd), buf + sizeof buf - n, n);
  close(atoi(fd));
}
