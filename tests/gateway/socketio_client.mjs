// The real socket.io-client (npm) against a claudegate gateway: connect with a key, stream a
// message, cancel a slow one mid-stream, receive a room stream another member requested, and
// be refused with a bad key. Prints what it saw as one JSON object.
import { io } from "socket.io-client";

const url = process.env.GATEWAY_URL;
const key = process.env.GATEWAY_KEY;
const ask = JSON.parse(process.env.ASK);
const long = JSON.parse(process.env.LONG);

function open(auth) {
  const socket = io(url, { auth, transports: ["websocket"], reconnection: false });
  const session = new Promise((resolve, reject) => {
    socket.once("session.created", resolve);
    socket.once("connect_error", reject);
  });
  return { socket, session };
}

function untilDone(socket, streamId) {
  return new Promise((resolve) => {
    const seen = [];
    const on = (name) => (data) => {
      if (data.stream_id !== streamId) return;
      seen.push([name, data]);
      if (name === "message.done" || name === "error") {
        for (const n of ["message.event", "message.done", "error"]) socket.off(n, handlers[n]);
        resolve(seen);
      }
    };
    const handlers = {};
    for (const n of ["message.event", "message.done", "error"]) {
      handlers[n] = on(n);
      socket.on(n, handlers[n]);
    }
  });
}

const out = {};
const { socket: author, session } = open({ token: key });
out.session = await session;
const done = untilDone(author, "s1");
out.ack = await author.emitWithAck("message.create", { stream_id: "s1", request: ask });
out.stream = await done;

const slow = untilDone(author, "slow");
let events = 0;
const cancelled = new Promise((resolve) => {
  const count = async (data) => {
    if (data.stream_id !== "slow" || ++events !== 3) return;
    author.off("message.event", count);
    resolve(await author.emitWithAck("message.cancel", { stream_id: "slow" }));
  };
  author.on("message.event", count);
});
await author.emitWithAck("message.create", {
  stream_id: "slow",
  request: long,
  headers: { "x-sim-latency": "event=100ms" },
});
out.cancelAck = await cancelled;
out.cancelled = await slow;

const { socket: member, session: memberSession } = open({ token: key });
await memberSession;
out.memberJoin = await member.emitWithAck("join-room", { room: "review" });
const joined = new Promise((resolve) => member.once("user-joined", resolve));
await author.emitWithAck("join-room", { room: "review" });
out.userJoined = await joined;
out.authorId = author.id;
const copies = untilDone(member, "r1");
const own = untilDone(author, "r1");
await author.emitWithAck("message.create", { stream_id: "r1", request: ask, room: "review" });
out.roomCopies = await copies;
out.roomOwn = await own;
author.disconnect();
member.disconnect();

const { socket: bad, session: refused } = open({ token: key + "x" });
try {
  await refused;
  out.refused = null;
} catch (err) {
  out.refused = { message: err.message, data: err.data };
}
bad.close();
process.stdout.write(JSON.stringify(out));
