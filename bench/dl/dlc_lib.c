extern int dlc_dep(int);
int dlc_value(int x) { return dlc_dep(x) + 1; }
