# chart.gp: the chart of bench/compare (see README.md), drawn by runner.py after a run:
#
#   gnuplot -e "datafile='D'; outfile='O'; terminal='svg'; subtitle='S'" bench/compare/chart.gp
#
# The data file has one line per channel workload: its name, then each peer's median over csp's
# median in the order go boost rust tbb moodycamel mutex (go and boost over csp from goroutines,
# the others over csp from plain threads), NaN where the peer has no number (n/a or failed).
# (The invisible points carry the workload names to the x axis.)
# Bars grow up from 1 when csp is faster and down when the peer is, on a log scale.

if (terminal eq 'svg') {
  set terminal svg size 1500,1000 dynamic background rgb 'white' font 'sans,12'
} else {
  set terminal pngcairo size 1500,1000 background rgb 'white' font 'sans,11'
}
set output outfile
set datafile missing 'NaN'
# Counted before any range is set: stats skips values outside the current ranges.
stats datafile using 0 nooutput
workloads = STATS_records

names = "go boost rust tbb moodycamel mutex"
colors = "#00add8 #8c564b #dea584 #1f77b4 #2ca02c #7f7f7f"
low(v) = v < 1 ? v : 1
high(v) = v > 1 ? v : 1
# Bar k of a cluster of n, centred on the workload's position x.
width(n) = 0.8 / n
centre(x, k, n) = x + (k - (n - 1) / 2.0) * width(n)

set logscale y 2
set yrange [1.0/32:512]
set ytics ("1/32" 0.03125, "1/16" 0.0625, "1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "2" 2, \
           "4" 4, "8" 8, "16" 16, "32" 32, "64" 64, "128" 128, "256" 256, "512" 512)
set grid ytics lc rgb '#dddddd'
set xtics rotate by -30 noenhanced nomirror
set key outside right top vertical noenhanced
set rmargin 16  # the same for both panels, whatever their legends
set ylabel "peer median / csp median\n(above 1: csp is faster)" noenhanced
set style fill solid 0.9 border lc rgb '#333333'
set xrange [-0.6:workloads - 0.4]

heading = "csp against its peers on crossbeam-channel's workloads " . \
          "(ns per message; no bar: n/a or failed)\n" . subtitle
set multiplot layout 2,1 title heading noenhanced

set title "goroutines and fibers: Go and Boost.Fiber over csp from goroutines" noenhanced
plot for [k=1:2] datafile using (centre(column(0), k - 1, 2)):(column(k + 1)): \
       (centre(column(0), k - 1, 2) - width(2) / 2):(centre(column(0), k - 1, 2) + width(2) / 2): \
       (low(column(k + 1))):(high(column(k + 1))) \
       with boxxyerror lc rgb word(colors, k) title word(names, k), \
     1 with lines lc rgb 'black' dt 2 notitle, \
     datafile using 0:(1):xtic(1) with points lc rgb '#FF000000' notitle

set title "plain threads: Rust std, oneTBB, moodycamel and the mutex queue " . \
          "over csp from plain threads" noenhanced
plot for [k=3:6] datafile using (centre(column(0), k - 3, 4)):(column(k + 1)): \
       (centre(column(0), k - 3, 4) - width(4) / 2):(centre(column(0), k - 3, 4) + width(4) / 2): \
       (low(column(k + 1))):(high(column(k + 1))) \
       with boxxyerror lc rgb word(colors, k) title word(names, k), \
     1 with lines lc rgb 'black' dt 2 notitle, \
     datafile using 0:(1):xtic(1) with points lc rgb '#FF000000' notitle

unset multiplot
