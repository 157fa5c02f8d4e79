/* spawnab: interleaved spawn-to-reap timings of several loaders running the same command.
   Usage: spawnab ROUNDS LOADER... -- PROGRAM ARGS...
   Each round runs `LOADER PROGRAM ARGS` once per loader, in turn; prints each loader's
   median, quartiles and its median per-round ratio to the first. Output of the runs goes
   to /dev/null. run.sh copies the loaders first (see there). */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: spawnab ROUNDS LOADER... -- PROGRAM ARGS...\n");
    return 2;
  }
  int rounds = atoi(argv[1]), k = 0;
  while (2 + k < argc && strcmp(argv[2 + k], "--")) k++;
  char **prog = argv + 3 + k;
  int nprog = argc - 3 - k;
  if (k == 0 || nprog < 1 || rounds < 1) return 2;
  double *t = malloc(sizeof(double) * rounds * k), *ratio = malloc(sizeof(double) * rounds * k);
  char **av = malloc(sizeof(char *) * (nprog + 2));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  for (int r = 0; r < rounds; r++)
    for (int j = 0; j < k; j++) {
      av[0] = argv[2 + j];
      memcpy(av + 1, prog, sizeof(char *) * nprog);
      av[1 + nprog] = NULL;
      struct timespec s, e;
      clock_gettime(CLOCK_MONOTONIC, &s);
      pid_t p;
      if (posix_spawn(&p, av[0], &fa, NULL, av, environ)) { perror("spawn"); return 1; }
      int st;
      waitpid(p, &st, 0);
      clock_gettime(CLOCK_MONOTONIC, &e);
      t[j * rounds + r] = (e.tv_sec - s.tv_sec) * 1e6 + (e.tv_nsec - s.tv_nsec) / 1e3;
    }
  for (int j = 0; j < k; j++)
    for (int r = 0; r < rounds; r++) ratio[j * rounds + r] = t[j * rounds + r] / t[r];
  for (int j = 0; j < k; j++) {
    qsort(t + j * rounds, rounds, sizeof(double), cmp);
    qsort(ratio + j * rounds, rounds, sizeof(double), cmp);
    printf("%-40s median %8.1f us  p25 %8.1f  p75 %8.1f  ratio to first %.3f\n", argv[2 + j],
           t[j * rounds + rounds / 2], t[j * rounds + rounds / 4], t[j * rounds + 3 * rounds / 4],
           ratio[j * rounds + rounds / 2]);
  }
  return 0;
}
