#!/bin/sh
set -e
echo ran >> /app/log
mkdir -p /app/generated
cp /app/config.txt /app/generated/config.copy
