# enlight ab: msr_exits_per_second, per variant a box plot (whiskers at 1.5 IQR)
# and every sample as a point. Paths are relative to this file: re-render with
#   cd <this directory> && gnuplot ./timer-idle-kvm.msr_exits_per_second.gp
# gnuplot draws no box for a variant with fewer than 4 samples; its points still show.
datafile = 'timer-idle-kvm.msr_exits_per_second.dat'
n = 3

set title 'timer-idle-kvm: msr_exits_per_second'
set ylabel 'msr_exits_per_second (1/s)'
set xtics ('apic-timer' 1, 'stimer-message' 2, 'stimer-direct' 3) nomirror
set xrange [0.4:n+0.6]
set ytics nomirror
set border 3
set offsets 0, 0, graph 0.05, graph 0.05
set grid ytics
set key off
set boxwidth 0.5
set style fill transparent solid 0.2 border
set style boxplot range 1.5 outliers pointtype 7

set terminal svg size 800,500 noenhanced font 'sans,12' background '#ffffff'
set output 'timer-idle-kvm.msr_exits_per_second.svg'
plot for [i=0:n-1] datafile index i using (i+1):1 with boxplot lt i+1 ps 0, \
     for [i=0:n-1] datafile index i using (i+1+$2):1 with points lt i+1 pt 7 ps 0.6

set terminal pngcairo size 800,500 noenhanced font 'sans,10' background '#ffffff'
set output 'timer-idle-kvm.msr_exits_per_second.png'
replot
unset output
