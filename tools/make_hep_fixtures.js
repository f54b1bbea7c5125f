// Writes HEP packets made by hep-js (an encoder independent of ours) for the decoder tests.
//   mkdir /tmp/hepjs && cd /tmp/hepjs && npm install hep-js@1.0.22
//   NODE_PATH=/tmp/hepjs/node_modules node tools/make_hep_fixtures.js tests/data/hep
// Each fixture: <name>.bin (the packet) and an entry in hepjs.json (what hep-js was given).
const fs = require("fs");
const path = require("path");
const HEPjs = require("hep-js");

HEPjs.addVendorExtensions({0x0008: {0x0080: {keyName: "conversationId"},
                                    0x0085: {keyName: "testUInt8", type: "UInt8"}}});

const out = process.argv[2];
const invite = [
  "INVITE sip:bob@biloxi.example.com SIP/2.0",
  "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
  "To: Bob <sip:bob@biloxi.example.com>",
  "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
  "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
  "CSeq: 314159 INVITE",
  "Contact: <sip:alice@pc33.atlanta.example.com>",
  "Content-Length: 0", "", ""].join("\r\n");
const ok = invite.replace("INVITE sip:bob@biloxi.example.com SIP/2.0", "SIP/2.0 200 OK")
  .replace("CSeq: 314159 INVITE", "CSeq: 314159 INVITE\r\nServer: hep-js-fixture");
const register = [
  "REGISTER sip:registrar.biloxi.example.com SIP/2.0",
  "Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7",
  "To: Bob <sip:bob@biloxi.example.com>",
  "From: Bob <sip:bob@biloxi.example.com>;tag=456248",
  "Call-ID: 843817637684230@998sdasdh09",
  "CSeq: 1826 REGISTER",
  "Contact: <sip:bob@192.0.2.4>",
  "Expires: 7200",
  "Content-Length: 0", "", ""].join("\r\n");

const base = {protocolFamily: 2, protocol: 17, srcIp: "192.168.1.10", dstIp: "10.20.30.40",
              srcPort: 5060, dstPort: 5080, timeSeconds: 1764000000, timeUseconds: 123456,
              captureId: 2001};
const cases = {
  invite: [invite, {...base, payloadType: 1}],
  ok_with_node: [ok, {...base, payloadType: 1, srcPort: 5080, dstPort: 5060,
                       hepNodeName: "edge-1", timeUseconds: 999999}],
  register_auth: [register, {...base, payloadType: 1, capturePass: "s3cret",
                             correlation_id: "843817637684230@998sdasdh09"}],
  rtcp_json: ['{"type":200,"ssrc":1234,"report_count":1}',
              {...base, payloadType: 5, protocol: 17, srcPort: 10001, dstPort: 20001,
               correlation_id: "a84b4c76e66710@pc33.atlanta.example.com"}],
  log_line: ["ERROR: something happened on the proxy",
             {...base, payloadType: 100, correlation_id: "a84b4c76e66710@pc33.atlanta.example.com"}],
  mos_report: ['{"MOS":4.36}', {...base, payloadType: 35, proto_type: 35, mos: 436,
                                correlation_id: "mos-call-1"}],
  vendor_chunks: [invite, {...base, payloadType: 1, conversationId: "conv-42", testUInt8: 7}],
};
const meta = {};
for (const [name, [payload, rcinfo]] of Object.entries(cases)) {
  const packet = HEPjs.encapsulate(payload, rcinfo);
  fs.writeFileSync(path.join(out, name + ".bin"), packet);
  meta[name] = {rcinfo, payload};
}
fs.writeFileSync(path.join(out, "hepjs.json"), JSON.stringify(meta, null, 1) + "\n");
console.log("wrote", Object.keys(cases).length, "packets to", out);
