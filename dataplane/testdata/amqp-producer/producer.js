// An independent AMQP 0-9-1 producer: publishes N messages to an exchange
// with publisher confirms, the way a Node.js service would.
// usage: node producer.js URL EXCHANGE ROUTING_KEY COUNT
const amqp = require('amqplib');

async function main() {
  const [url, exchange, key, count] = process.argv.slice(2);
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  for (let i = 0; i < Number(count); i++) {
    ch.publish(exchange, key, Buffer.from(JSON.stringify({ n: i })), {
      contentType: 'application/json',
      messageId: `node-${i}`,
      persistent: true,
      headers: { ce_type: 'test.node', ce_source: '/node-producer', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
  }
  await ch.waitForConfirms();
  await ch.close();
  await conn.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
