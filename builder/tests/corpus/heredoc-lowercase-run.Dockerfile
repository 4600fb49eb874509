FROM a
run <<eof
body
eof
