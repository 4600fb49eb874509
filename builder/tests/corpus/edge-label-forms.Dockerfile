FROM a
LABEL "a b"=c 'd'="e f" g=h\ i
LABEL legacy form value
