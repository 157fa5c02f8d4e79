/* Dumps what glibc's own ld.so computed: struct cpu_features (480 bytes), the
   feature leaves libc hands out, the GLRO fields derived from it, and sysconf cache
   answers. Output: one "key value" per line, parsed by tests/oracle.rs. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

struct leaf { unsigned int cpuid[4]; unsigned int active[4]; };
extern const struct leaf *__x86_get_cpuid_feature_leaf (unsigned int);

static void hex (const char *key, const void *p, size_t n)
{
  const unsigned char *b = p;
  printf ("%s ", key);
  for (size_t i = 0; i < n; i++)
    printf ("%02x", b[i]);
  putchar ('\n');
}

int main (void)
{
  const void *(*get) (void) = (const void *(*) (void))
    dlsym (RTLD_DEFAULT, "_dl_x86_get_cpu_features");
  const unsigned char *ro = dlsym (RTLD_DEFAULT, "_rtld_global_ro");
  if (get == NULL || ro == NULL)
    {
      printf ("error dlsym\n");
      return 1;
    }
  const unsigned char *cf = get ();
  hex ("features", cf, 480);
  printf ("cf_at_glro_0x70 %d\n", cf == ro + 0x70);
  for (unsigned int i = 0; i < 10; i++)
    {
      char key[16];
      snprintf (key, sizeof key, "leaf%u", i);
      hex (key, __x86_get_cpuid_feature_leaf (i), sizeof (struct leaf));
    }
  const char *platform;
  memcpy (&platform, ro + 0x08, sizeof platform);
  unsigned long v;
  printf ("platform %s\n", platform ? platform : "(null)");
  memcpy (&v, ro + 0x10, 8);
  printf ("platformlen %lu\n", v);
  memcpy (&v, ro + 0x20, 8);
  printf ("minsigstacksize %lu\n", v);
  memcpy (&v, ro + 0x60, 8);
  printf ("glro_hwcap %lu\n", v);
  memcpy (&v, ro + 0x308, 8);
  printf ("glro_hwcap2 %lu\n", v);
  printf ("getauxval_hwcap %lu\n", getauxval (AT_HWCAP));
  printf ("getauxval_hwcap2 %lu\n", getauxval (AT_HWCAP2));
  printf ("at_minsigstksz %lu\n", getauxval (51));
  const char *atp = (const char *) getauxval (AT_PLATFORM);
  printf ("at_platform %s\n", atp ? atp : "(null)");
  for (int i = 0; i < 15; i++)
    printf ("sysconf%d %ld\n", i, sysconf (_SC_LEVEL1_ICACHE_SIZE + i));
  return 0;
}
