frOm node:18 AS builder
worKDiR /usr/src/app
CoPY package*.json ./
run npm install
coPy . .
run npm run build

From nginx:1.25-alpine
COpy nginx.conf /etc/nginx/conf.d/default.conf
COPy --from=builder /usr/src/app/dist /usr/share/nginx/html
EXPOsE 80
StOPSiGnaL SIGQUIT
Cmd ["nginx", "-g", "daemon off;"]
