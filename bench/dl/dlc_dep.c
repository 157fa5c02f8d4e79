#include <string.h>
int dlc_dep(int x) { return x + (int)strlen("ab"); }
