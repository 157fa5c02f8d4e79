/* dlopen + dlsym + dlclose throughput: N cycles of a small library with one dependency. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    int n = argc > 2 ? atoi(argv[2]) : 10000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    long sum = 0;
    for (int i = 0; i < n; i++) {
        void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
        int (*f)(int) = (int (*)(int))dlsym(h, "dlc_value");
        if (!f) { fprintf(stderr, "%s\n", dlerror()); return 1; }
        sum += f(i);
        dlclose(h);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n;
    printf("%d cycles, %.2f us per dlopen+dlsym+dlclose (check %ld)\n", n, us, sum);
    return 0;
}
