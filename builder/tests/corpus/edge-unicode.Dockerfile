FROM alpine
LABEL description="日本語 テキスト" emoji="🐳"
RUN echo "héllo wörld" > /tmp/ü
ENV GREETING=grüß\ dich
