/** `now` prints the UTC time in ISO 8601, the format of lock records and history lines. */
export const NOW_SH = "now() { date -u +%Y-%m-%dT%H:%M:%SZ; }";
