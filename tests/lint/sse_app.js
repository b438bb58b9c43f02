// The same stream as sse_app.py on Node's own http server: one event every 100 ms, no
// X-Accel-Buffering. Run as `node sse_app.js PORT`. Node answers an HTTP/1.0 request (nginx's
// default to the app) close-delimited: no length, no chunks.
"use strict";
const http = require("http");

const COUNT = 10;
const port = Number(process.argv[2]);

http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(`data: event ${sent}\n\n`);
      sent += 1;
      if (sent === COUNT) {
        clearInterval(timer);
        res.end();
      }
    }, 100);
    res.on("close", () => clearInterval(timer));
  })
  .listen(port, "127.0.0.1");
