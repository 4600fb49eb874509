ARG v=1
FROM a
ENV a=$v b=${v} c=${v:-d} e=${v-d} f=${v:+g} h=${v+i} j=\$v k='$v' l="$v"
