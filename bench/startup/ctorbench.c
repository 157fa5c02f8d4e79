/* ctorbench: time from spawn to the preloaded constructor of stamp.so (see there), for
   commands run under glibc's loader and rld, interleaved. Prints medians per command and the
   per-round ratio of each command to the first.
   Usage: ctorbench ROUNDS TSC_MHZ STAMP_SO -- cmd1 ... ::: cmd2 ... [::: ...]
   (TSC_MHZ 0: calibrated against CLOCK_MONOTONIC over 200 ms)
   Each command's output goes to /dev/null. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
#include <x86intrin.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: ctorbench ROUNDS TSC_MHZ STAMP_SO -- cmd ... ::: cmd ...\n"); return 2; }
  int rounds = atoi(argv[1]);
  double mhz = atof(argv[2]);
  if (mhz <= 0) {
    struct timespec a, b, d = {0, 200000000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    unsigned long long s = __rdtsc();
    nanosleep(&d, NULL);
    unsigned long long e = __rdtsc();
    clock_gettime(CLOCK_MONOTONIC, &b);
    mhz = (e - s) / ((b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3);
  }
  const char *so = argv[3];
  char **cmds[16]; int nc = 0;
  cmds[nc++] = &argv[5];
  for (int i = 5; i < argc; i++)
    if (!strcmp(argv[i], ":::")) { argv[i] = NULL; if (nc < 16) cmds[nc++] = &argv[i + 1]; }
  double *t = calloc((size_t)rounds * nc, sizeof *t);
  int devnull = open("/dev/null", O_WRONLY);
  for (int r = -3; r < rounds; r++)
    for (int c = 0; c < nc; c++) {
      int p[2];
      if (pipe(p)) return 1;
      char fdenv[64], pre[4096];
      snprintf(fdenv, sizeof fdenv, "RLD_BENCH_STAMP_FD=%d", p[1]);
      snprintf(pre, sizeof pre, "LD_PRELOAD=%s", so);
      int ne = 0; while (environ[ne]) ne++;
      char **env = calloc(ne + 3, sizeof *env);
      int k = 0;
      for (int i = 0; i < ne; i++) if (strncmp(environ[i], "LD_PRELOAD=", 11)) env[k++] = environ[i];
      env[k++] = fdenv; env[k++] = pre; env[k] = NULL;
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, devnull, 1);
      posix_spawn_file_actions_adddup2(&fa, devnull, 2);
      posix_spawn_file_actions_addclose(&fa, p[0]);
      pid_t pid;
      unsigned long long t0 = __rdtsc();
      if (posix_spawn(&pid, cmds[c][0], &fa, NULL, cmds[c], env)) { perror(cmds[c][0]); return 1; }
      close(p[1]);
      char buf[32] = {0};
      ssize_t n = read(p[0], buf, sizeof buf - 1);
      close(p[0]);
      int st;
      waitpid(pid, &st, 0);
      posix_spawn_file_actions_destroy(&fa);
      free(env);
      if (n <= 0) { fprintf(stderr, "%s: no stamp\n", cmds[c][0]); return 1; }
      if (r >= 0) t[r * nc + c] = (strtoull(buf, NULL, 10) - t0) / mhz;
    }
  double *v = calloc(rounds, sizeof *v);
  for (int c = 0; c < nc; c++) {
    for (int r = 0; r < rounds; r++) v[r] = t[r * nc + c];
    qsort(v, rounds, sizeof *v, cmp);
    printf("cmd%d median %9.1f us  p10 %9.1f  p90 %9.1f  ", c + 1, v[rounds / 2], v[rounds / 10], v[rounds * 9 / 10]);
    if (c > 0) {
      for (int r = 0; r < rounds; r++) v[r] = t[r * nc + c] / t[r * nc];
      qsort(v, rounds, sizeof *v, cmp);
      printf("ratio to cmd1 %.3f (p10-p90 %.2f-%.2f)", v[rounds / 2], v[rounds / 10], v[rounds * 9 / 10]);
    }
    printf("\n");
  }
  return 0;
}
