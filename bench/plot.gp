# bench/plot.gp - the chart of bench/run: client CPU seconds per 100k
# records, kl next to the AWS SDK for JavaScript and the AWS CLI, one
# group of bars per case, on a log scale (the CLI costs hundreds of
# times what kl does).  bench/run calls it as
#
#	gnuplot -e "datafile='cpu.dat'; outfile='cpu.svg'" bench/plot.gp
#
# cpu.dat: "CASE KL SDK CLI" per line, "-" where a client was not run.
if (!exists("datafile")) datafile = 'cpu.dat'
if (!exists("outfile")) outfile = 'cpu.svg'
set terminal svg size 720,420 dynamic font 'sans,12' background rgb 'white'
set output outfile
set title 'Client CPU seconds per 100,000 records (lower is better)'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [0.01:*]
set format y '%g'
set ylabel 'CPU-s per 100k records (log scale)'
set grid ytics
set key outside bottom center horizontal
set xtics nomirror
plot datafile using 2:xtic(1) title 'kl' linecolor rgb '#2a7ab0', \
     '' using 3 title 'AWS SDK for JavaScript' linecolor rgb '#e3a21a', \
     '' using 4 title 'AWS CLI' linecolor rgb '#b03a2e', \
     '' using ($0 - 0.3):($2 * 1.25):($2 >= 1000 ? sprintf('%.0f', $2) : sprintf('%.3g', $2)) with labels notitle font 'sans,10', \
     '' using ($0):($3 * 1.25):($3 >= 1000 ? sprintf('%.0f', $3) : sprintf('%.3g', $3)) with labels notitle font 'sans,10', \
     '' using ($0 + 0.3):($4 * 1.25):($4 >= 1000 ? sprintf('%.0f', $4) : sprintf('%.3g', $4)) with labels notitle font 'sans,10'
