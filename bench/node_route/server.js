// The webhook route the sign-up guide has users write, without a framework: verify the Svix
// signature with the svix package, then one upsert (user.created, user.updated) or delete
// (user.deleted) of the "User" row through node-postgres. No inbox, no ordering, no duplicates
// check: the benchmark's peer for the proxy (scripts/bench http).
// DATABASE_URL, CLERK_WEBHOOK_SECRET, LISTEN_PORT (on 127.0.0.1), POOL_SIZE.
"use strict";

const http = require("node:http");
const { randomUUID } = require("node:crypto");
const { Pool } = require("pg");
const { Webhook } = require("svix");

const webhook = new Webhook(process.env.CLERK_WEBHOOK_SECRET);
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE || 8) });

const UPSERT = `INSERT INTO "User" (id, email, username, "clerkUserId", "firstName", "lastName", "photoUrl", "updatedAt")
VALUES ($1, $2, $3, $4, $5, $6, $7, now())
ON CONFLICT ("clerkUserId") DO UPDATE
SET email = EXCLUDED.email, username = EXCLUDED.username, "firstName" = EXCLUDED."firstName",
    "lastName" = EXCLUDED."lastName", "photoUrl" = EXCLUDED."photoUrl", "updatedAt" = EXCLUDED."updatedAt"`;
const DELETE = `DELETE FROM "User" WHERE "clerkUserId" = $1`;

async function apply(event) {
  const data = event.data;
  if (event.type === "user.deleted") {
    await pool.query(DELETE, [data.id]);
    return;
  }
  if (event.type !== "user.created" && event.type !== "user.updated") return;
  const primary = (data.email_addresses || []).find((e) => e.id === data.primary_email_address_id);
  const email = primary ? primary.email_address : null;
  const username = data.username || (email ? email.split("@")[0] : null);
  await pool.query(UPSERT, [randomUUID(), email, username, data.id, data.first_name, data.last_name, data.image_url]);
}

function answer(res, status, text) {
  res.writeHead(status, { "content-type": "text/plain" });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") return answer(res, 200, "ok");
  if (req.method !== "POST") return answer(res, 405, "method not allowed");
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", async () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event;
    try {
      event = webhook.verify(body, {
        "svix-id": req.headers["svix-id"],
        "svix-timestamp": req.headers["svix-timestamp"],
        "svix-signature": req.headers["svix-signature"],
      });
    } catch {
      return answer(res, 400, "invalid signature");
    }
    try {
      await apply(event);
      answer(res, 200, "ok");
    } catch (error) {
      console.error(error.message);
      answer(res, 500, "failed");
    }
  });
});

server.listen(Number(process.env.LISTEN_PORT), "127.0.0.1");
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => pool.end().then(() => process.exit(0))));
}
