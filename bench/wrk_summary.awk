# wrk's --latency summary -> "requests/s p50_ms p99_ms errors" (non-2xx answers and socket
# errors), for the shell benchmarks (bench_http.sh, bench_text_http.sh).
function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
/Requests\/sec/ {rps = $2}
$1 == "50%" {p50 = ms($2)}
$1 == "99%" {p99 = ms($2)}
/Non-2xx/ {err += $NF}
/Socket errors/ {gsub(",", ""); err += $4 + $6 + $8 + $10}
END {printf "%.0f %.2f %.2f %d\n", rps, p50, p99, err}
