FROM a
RUN <<D0 cat <<D1 cat <<D2 cat <<D3 cat <<D4 cat <<D5 cat <<D6 cat <<D7 cat
body 0
D0
body 1
D1
body 2
D2
body 3
D3
body 4
D4
body 5
D5
body 6
D6
body 7
D7
