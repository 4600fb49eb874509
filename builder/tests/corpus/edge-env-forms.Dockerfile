FROM a
ENV a=1 b="2 3" c='4 5' d=6\ 7
ENV legacy value with spaces
ENV e= f="" g=
ENV h=x=y
ENV "quoted key"=v
