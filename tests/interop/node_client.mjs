// A Node.js client of a cim system, written from docs/wire.md with the official `nats` package.
// Environment: NATS_URL, SERVICE (the command service's name), STREAM (JetStream stream),
// PREFIX (subject prefix), ORDER (an order id). Prints one JSON summary on stdout.
import { randomUUID } from "node:crypto";
import { connect, headers, JSONCodec } from "nats";

const { NATS_URL, SERVICE, STREAM, PREFIX, ORDER } = process.env;
const jc = JSONCodec();
const nc = await connect({ servers: NATS_URL });
const js = nc.jetstream();
const jsm = await nc.jetstreamManager();
const summary = {};

// 1. Discover the command service: $SRV.PING and $SRV.INFO through the services client.
const services = nc.services.client();
summary.pinged = [];
for await (const pong of await services.ping(SERVICE)) summary.pinged.push(pong.name);
const infos = [];
for await (const info of await services.info(SERVICE)) infos.push(info);
const subject = infos[0].endpoints[0].subject;
summary.endpoint = subject;
summary.category = infos[0].endpoints[0].metadata?.category;

// 2. Commands: request-reply JSON; errors carry a numeric Nats-Service-Error-Code.
async function command(stream, body, commandId) {
  const request = { stream, command: body, correlation_id: `node-${ORDER}` };
  if (commandId !== undefined) request.command_id = commandId;
  const reply = await nc.request(subject, jc.encode(request), { timeout: 5000 });
  return { body: jc.decode(reply.data), code: reply.headers?.get("Nats-Service-Error-Code") || null };
}
const place = { type: "PlaceOrder", order_id: ORDER, customer: "node", total_cents: 700 };
summary.placed = (await command(`order.${ORDER}`, place)).body;
summary.refused = await command(`invoice.${ORDER}`, place);

// 3. Read the stream's events: direct gets of the next message on the subject.
const eventSubject = `${PREFIX}.order.${ORDER}`;
async function readEvents() {
  const events = [];
  let seq = 1;
  for (;;) {
    let msg;
    try {
      msg = await jsm.direct.getMessage(STREAM, { seq, next_by_subj: eventSubject });
    } catch (err) {
      if (String(err.code) === "404" || /no message/i.test(err.message)) break;
      throw err;
    }
    const body = jc.decode(msg.data);
    events.push({
      position: msg.seq,
      version: Number(msg.header.get("Cim-Version")),
      type: msg.header.get("Cim-Event-Type"),
      schema_version: Number(msg.header.get("Cim-Schema-Version")),
      event_id: msg.header.get("Cim-Event-Id"),
      payload: body.payload,
    });
    seq = msg.seq + 1;
  }
  return events;
}
summary.read = await readEvents();

// 4. Append events as docs/wire.md says: expected last subject sequence, Nats-Msg-Id = event id.
function eventHeaders(type, version, eventId) {
  const h = headers();
  h.set("Cim-Event-Id", eventId);
  h.set("Cim-Event-Type", type);
  h.set("Cim-Schema-Version", "1");
  h.set("Cim-Stream", `order.${ORDER}`);
  h.set("Cim-Version", String(version));
  h.set("Cim-Recorded-At", new Date().toISOString());
  h.set("Cim-Correlation-Id", `node-${ORDER}`);
  h.set("Cim-Causation-Id", `node-${ORDER}`);
  h.set("Nats-Msg-Id", eventId);
  return h;
}
const body = () => jc.encode({ payload: { order_id: ORDER }, metadata: { writer: "node" } });
let last = summary.read[summary.read.length - 1];
const submitted = await js.publish(eventSubject, body(), {
  headers: eventHeaders("OrderSubmitted", last.version + 1, randomUUID()),
  expect: { lastSubjectSequence: last.position },
});
summary.appended = [{ seq: submitted.seq, version: last.version + 1 }];

// 4b. A stale expectation is refused by the server (another writer got there first).
try {
  await js.publish(eventSubject, body(), {
    headers: eventHeaders("OrderConfirmed", last.version + 1, randomUUID()),
    expect: { lastSubjectSequence: last.position },
  });
  summary.stale = "stored";
} catch (err) {
  summary.stale = String(err.message);
}

// 4c. Two events at once: one atomic batch, the expectation on its first message.
const batchId = randomUUID();
const batch = [
  ["OrderConfirmed", last.version + 2],
  ["OrderShipped", last.version + 3],
];
for (let i = 0; i < batch.length; i++) {
  const [type, version] = batch[i];
  const h = eventHeaders(type, version, randomUUID());
  h.set("Nats-Batch-Id", batchId);
  h.set("Nats-Batch-Sequence", String(i + 1));
  if (i === 0) h.set("Nats-Expected-Last-Subject-Sequence", String(submitted.seq));
  if (i < batch.length - 1) {
    nc.publish(eventSubject, body(), { headers: h });
  } else {
    h.set("Nats-Batch-Commit", "1");
    const ack = await nc.request(eventSubject, body(), { headers: h, timeout: 5000 });
    summary.batch_ack = jc.decode(ack.data);
  }
}

// 5. cim builds on what Node wrote: the next command decides on the delivered state.
summary.delivered = (await command(`order.${ORDER}`, { type: "Deliver" }, `deliver-${ORDER}`)).body;
summary.final = await readEvents();

// 6. Everything of the category, from an ordered consumer: positions are stream sequences.
const ordered = await js.consumers.get(STREAM, { filterSubjects: [`${PREFIX}.order.>`] });
summary.consumed = [];
const wanted = summary.final.length;
for await (const m of await ordered.fetch({ max_messages: wanted, expires: 5000 })) {
  summary.consumed.push({ position: m.seq, type: m.headers.get("Cim-Event-Type") });
  if (summary.consumed.length === wanted) break;
}
await nc.drain();
process.stdout.write(JSON.stringify(summary) + "\n");
