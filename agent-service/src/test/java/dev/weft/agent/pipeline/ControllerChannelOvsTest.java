package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.openflow.MeterMod;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.openflow.OfField;
import dev.weft.agent.openflow.PacketIn;
import dev.weft.agent.openflow.PacketOut;
import dev.weft.agent.packet.Ipv4Frame;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.net.IpAddress;
import dev.weft.net.MacAddress;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller channel on a real userspace bridge with a netns pod: a flow's CONTROLLER action delivers a packet-in
 * with its table, cookie, registers and frame to the handler of its cookie category; a packet-out to a port reaches
 * the pod and one to TABLE traverses the pipeline with the given in_port; a meter bounds the packet-ins of a flood;
 * meters come back after ovs-vswitchd restarts.
 */
class ControllerChannelOvsTest {

    private static final String PEER_IP = "10.251.9.99";
    private static final String PEER_MAC = "0a:00:00:00:09:99";

    /** A stand-in feature owning the trace category, as a feature declaring a meter would. */
    private static final PipelineFeature PROBE = () -> new PipelineFeature.Declaration("ChannelProbe",
            List.of(PipelineTable.CLASSIFICATION), java.util.Set.of(Cookie.Category.TRACEFLOW));

    @Test
    void packetInsPacketOutsAndMetersOnARealBridge() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod pod = NetnsPod.create(ovs, "10.251.9.2/24", null, 21);
             Datapath dp = DatapathOvsTest.startDatapath(ovs)) {
            NetnsPod.sh("ip", "-n", pod.netns, "neigh", "replace", PEER_IP, "lladdr", PEER_MAC, "dev", "eth0");
            LinkedBlockingQueue<PacketIn> got = new LinkedBlockingQueue<>();
            dp.packetIns().register(Cookie.Category.TRACEFLOW, got::add);
            dp.declareMeter(PROBE, MeterMod.packetsPerSecond(9, 20, 10));
            long cookie = Cookie.of(Cookie.Category.TRACEFLOW, 0x2a).value();
            long unclaimedCookie = Cookie.of(Cookie.Category.SERVICE, 1).value();
            FlowMod fromPod = new FlowMod(0, 100, cookie, Match.builder().inPort(pod.ofport).ip().build(),
                    List.of(new OfAction.Meter(9), new OfAction.RegLoad(OfField.REG8, 0, 32, 0x2a),
                            new OfAction.Controller(256)), -1);
            FlowMod tagged = new FlowMod(0, 200, cookie, Match.builder().ipDscp(13).build(),
                    List.of(new OfAction.Meter(9), new OfAction.RegLoad(OfField.REG9, 0, 32, 13),
                            new OfAction.Controller(0xffff)), -1);
            FlowMod unclaimed = new FlowMod(0, 300, unclaimedCookie, Match.builder().ipDscp(14).build(),
                    List.of(new OfAction.Meter(9), new OfAction.Controller(64)), -1);
            dp.apply(77, List.of(fromPod, tagged, unclaimed));

            // 1. a packet of the pod reaches the controller with its table, cookie, registers and frame
            assertTrue(!pod.ping(PEER_IP)); // nobody answers: the flow sends to the controller only
            PacketIn p = got.poll(5, TimeUnit.SECONDS);
            assertNotNull(p, "no packet-in for the pod's ping");
            assertEquals(PacketIn.REASON_ACTION, p.reason());
            assertEquals(0, p.tableId());
            assertEquals(Cookie.Category.TRACEFLOW, Cookie.categoryOf(p.cookie()));
            assertEquals(0x2a, Cookie.of(p.cookie()).objectId());
            assertEquals(pod.ofport, p.inPort());
            assertEquals(0x2a, p.register(8));
            Ipv4Frame f = Ipv4Frame.parse(p.frame());
            assertEquals(IpAddress.parse(pod.ip), f.srcIp());
            assertEquals(IpAddress.parse(PEER_IP), f.dstIp());
            assertEquals(MacAddress.parse(pod.mac), f.src());
            assertTrue(f.transport() instanceof Ipv4Frame.Icmp i && i.type() == Ipv4Frame.Icmp.ECHO_REQUEST, f.toString());
            got.clear();

            // 2. a packet-out to the pod's port arrives: the pod answers the echo request, its reply comes back
            Ipv4Frame echo = new Ipv4Frame(MacAddress.parse(PEER_MAC), MacAddress.parse(pod.mac), IpAddress.parse(PEER_IP),
                    IpAddress.parse(pod.ip), 0, 4711, 64, new Ipv4Frame.Icmp(Ipv4Frame.Icmp.ECHO_REQUEST, 0, 0x77, 1,
                    "weft".getBytes()));
            dp.packetOut(PacketOut.toPort(pod.ofport, echo.encode()));
            PacketIn reply = poll(got, x -> Ipv4Frame.parse(x.frame()).transport() instanceof Ipv4Frame.Icmp i
                    && i.type() == Ipv4Frame.Icmp.ECHO_REPLY && i.id() == 0x77);
            assertNotNull(reply, "the pod never answered the packet-out's echo request");
            assertEquals(IpAddress.parse(PEER_IP), Ipv4Frame.parse(reply.frame()).dstIp());

            // 3. a packet-out to TABLE traverses the pipeline as if it came in on the pod's port
            Ipv4Frame probe = new Ipv4Frame(MacAddress.parse(pod.mac), MacAddress.parse(PEER_MAC), IpAddress.parse(pod.ip),
                    IpAddress.parse(PEER_IP), 13, 99, 64, Ipv4Frame.Tcp.syn(40000, 80));
            got.clear();
            dp.packetOut(PacketOut.toPipeline(pod.ofport, probe.encode()));
            PacketIn traced = got.poll(5, TimeUnit.SECONDS);
            assertNotNull(traced, "the packet-out to TABLE did not reach the tagged flow");
            assertEquals(pod.ofport, traced.inPort());
            assertEquals(13, traced.register(9));
            assertEquals(probe, Ipv4Frame.parse(traced.frame()));

            // 4. a packet-in of a category nobody claims is counted and dropped
            long before = dp.packetIns().unclaimed();
            Ipv4Frame other = new Ipv4Frame(MacAddress.parse(pod.mac), MacAddress.parse(PEER_MAC), IpAddress.parse(pod.ip),
                    IpAddress.parse(PEER_IP), 14, 100, 64, new Ipv4Frame.Udp(5000, 53, new byte[4]));
            dp.packetOut(PacketOut.toPipeline(pod.ofport, other.encode()));
            await().atMost(Duration.ofSeconds(5)).until(() -> dp.packetIns().unclaimed() > before);

            // 5. the meter (20 packets/s, burst 10) bounds the packet-ins of a flood
            got.clear();
            int sent = 2000;
            long t0 = System.nanoTime();
            List<byte[]> flood = new java.util.ArrayList<>();
            for (int i = 0; i < sent; i++) {
                flood.add(PacketOut.toPipeline(pod.ofport, probe.encode()).encode());
            }
            dp.connection().send(flood, false).get(30, TimeUnit.SECONDS);
            double seconds = (System.nanoTime() - t0) / 1e9;
            Thread.sleep(500);
            int received = got.size();
            System.out.printf("meter 20 pkt/s burst 10: %d tagged packets injected in %.2f s, %d packet-ins%n", sent,
                    seconds, received);
            assertTrue(received > 0, "no packet-in at all during the flood");
            assertTrue(received < sent / 4, received + " packet-ins of " + sent + " packets: the meter did not limit them");

            // 6. meters come back when ovs-vswitchd restarts (flows too, which need them)
            ovs.killVswitchd();
            ovs.startVswitchd();
            await().atMost(Duration.ofSeconds(30)).until(() -> dp.replays() >= 2 && dp.isReady());
            String meters = ovs.ofctl("-O", "OpenFlow13", "dump-meters", ovs.mgmtSocket().toString());
            assertTrue(meters.contains("meter=9") && meters.contains("pktps"), meters);
            got.clear();
            dp.packetOut(PacketOut.toPipeline(pod.ofport, probe.encode()));
            assertNotNull(got.poll(5, TimeUnit.SECONDS), "no packet-in after the switch restarted");
        }
    }

    private static PacketIn poll(LinkedBlockingQueue<PacketIn> q, java.util.function.Predicate<PacketIn> want)
            throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < end) {
            PacketIn p = q.poll(200, TimeUnit.MILLISECONDS);
            try {
                if (p != null && want.test(p)) {
                    return p;
                }
            } catch (IllegalArgumentException notIpv4) {
                // an ARP or IPv6 packet of the pod
            }
        }
        return null;
    }
}
