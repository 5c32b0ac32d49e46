// The real socket.io-client (npm) presenting JWTs: connect with a valid token and stream a message,
// then try each bad token and keep its connect_error. Prints what it saw as one JSON object.
import { io } from "socket.io-client";

const url = process.env.GATEWAY_URL;
const ask = JSON.parse(process.env.ASK);

function open(token) {
  const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
  const session = new Promise((resolve, reject) => {
    socket.once("session.created", resolve);
    socket.once("connect_error", reject);
  });
  return { socket, session };
}

const out = {};
const { socket, session } = open(process.env.TOKEN);
out.session = await session;
const stream = [];
const done = new Promise((resolve) => {
  for (const name of ["message.event", "message.done", "error"]) {
    socket.on(name, (data) => {
      stream.push([name, data]);
      if (name !== "message.event") resolve();
    });
  }
});
out.ack = await socket.emitWithAck("message.create", { stream_id: "s1", request: ask });
await done;
out.stream = stream;
socket.disconnect();

out.refused = [];
for (const token of JSON.parse(process.env.BAD_TOKENS)) {
  const { socket: bad, session: refused } = open(token);
  try {
    await refused;
    out.refused.push(null);
  } catch (err) {
    out.refused.push({ message: err.message, data: err.data });
  }
  bad.close();
}
process.stdout.write(JSON.stringify(out));
