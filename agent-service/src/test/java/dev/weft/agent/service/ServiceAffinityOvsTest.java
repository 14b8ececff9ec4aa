package dev.weft.agent.service;

import dev.weft.agent.openflow.FlowStats;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.openflow.OfField;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.NetnsPod;
import dev.weft.agent.pipeline.PipelineTable;
import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.weft.agent.service.ServiceOvsTest.VIP;
import static dev.weft.agent.service.ServiceOvsTest.ask;
import static dev.weft.agent.service.ServiceOvsTest.ports;
import static dev.weft.agent.service.ServiceOvsTest.routeServicesViaGateway;
import static dev.weft.agent.service.ServiceOvsTest.startDatapath;
import static dev.weft.agent.service.ServiceOvsTest.whoami;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code sessionAffinity: ClientIP} on a real Open vSwitch (userspace datapath), pods as network namespaces: a
 * client's new connections stick to one endpoint, also once conntrack forgot its earlier ones; a removed endpoint
 * sends its clients elsewhere (no black hole); the learned flows expire with the timeout and go when the affinity
 * goes.
 */
class ServiceAffinityOvsTest {

    static final int PORT = 81;

    static ServicePort affinityPort(int timeout, ServiceEndpoint... endpoints) {
        return new ServicePort(new ServicePortKey(VIP, ServicePortKey.Protocol.TCP, PORT), "default/sticky", "who",
                List.of(endpoints), timeout);
    }

    /** The one endpoint (pod name) all {@code n} connections landed on; fails when they spread or failed. */
    static String sticksToOne(NetnsPod client, int n) throws Exception {
        Map<String, Integer> got = ask(client, VIP, PORT, n);
        assertEquals(1, got.size(), () -> "all connections of one client on one endpoint: " + got);
        String ep = got.keySet().iterator().next();
        assertTrue(ep.startsWith("ep") && got.get(ep) == n, got::toString);
        return ep;
    }

    static List<FlowStats> learned(Datapath dp) {
        return dp.dumpFlows(PipelineTable.SESSION_AFFINITY.id).stream().filter(f -> f.flow().priority() > 0).toList();
    }

    @Test
    void aClientSticksToItsEndpointAcrossConnectionsUntilTheEndpointLeavesOrTheTimeoutPasses() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod client1 = NetnsPod.create(ovs, "10.252.9.2/24", null, 11);
             NetnsPod client2 = NetnsPod.create(ovs, "10.252.9.6/24", null, 15);
             NetnsPod ep1 = NetnsPod.create(ovs, "10.252.9.3/24", null, 12);
             NetnsPod ep2 = NetnsPod.create(ovs, "10.252.9.4/24", null, 13);
             NetnsPod ep3 = NetnsPod.create(ovs, "10.252.9.5/24", null, 14)) {
            routeServicesViaGateway(client1);
            routeServicesViaGateway(client2);
            Datapath dp = startDatapath(ovs);
            List<Process> servers = new ArrayList<>();
            try {
                int i = 0;
                for (NetnsPod p : List.of(client1, client2, ep1, ep2, ep3)) {
                    dp.podAdded(p.asInterface("default", "pod" + i++));
                }
                Map<String, NetnsPod> pods = Map.of("ep1", ep1, "ep2", ep2, "ep3", ep3);
                for (Map.Entry<String, NetnsPod> e : pods.entrySet()) {
                    servers.add(whoami(e.getValue(), e.getKey(), 9090));
                }
                ServiceFeature services = new ServiceFeature(dp);
                dp.register(services);
                Map<String, ServiceEndpoint> eps = Map.of("ep1", new ServiceEndpoint(ep1.ip, 9090),
                        "ep2", new ServiceEndpoint(ep2.ip, 9090), "ep3", new ServiceEndpoint(ep3.ip, 9090));
                ServiceEndpoint[] all = {eps.get("ep1"), eps.get("ep2"), eps.get("ep3")};

                services.update(ports(affinityPort(10800, all)));
                assertTrue(services.inSync());
                String first = sticksToOne(client1, 20);
                String second = sticksToOne(client2, 10);
                List<FlowStats> flows = learned(dp);
                assertEquals(2, flows.size(), flows::toString);
                String dump = String.join("\n", ovs.dumpFlows("table=41"));
                assertTrue(dump.contains("hard_timeout=10800") && dump.contains("nw_src=" + client1.ip)
                        && dump.contains("nw_src=" + client2.ip), dump);
                // our flow-stats decoding reads the learned flows: client1's loads its endpoint
                FlowStats mine = flows.stream().filter(f -> f.flow().match().get(OfField.IPV4_SRC).value()
                        == Match.parseIpv4(client1.ip)).findFirst().orElseThrow();
                assertTrue(mine.flow().actions().contains(new OfAction.RegLoad(OfField.REG3, 0, 32, eps.get(first).ipv4())),
                        mine::toString);

                // conntrack forgets every connection: the learned flow, not conntrack, keeps the client's endpoint
                ovs.run(List.of("ovs-appctl", "-t", ovs.dir.resolve("ovs-vswitchd.ctl").toString(), "dpctl/flush-conntrack"));
                assertEquals(first, sticksToOne(client1, 10));
                System.out.println("client1 -> " + first + ", client2 -> " + second);

                // a learned flow whose endpoint EndpointDNAT does not have (a previous run's, its pod gone): the client
                // is not black-holed, the group chooses again and the learned flow is overwritten
                ovs.ofctl("add-flow", ovs.mgmtSocket().toString(), "table=41,priority=200,tcp,nw_src=" + client2.ip
                        + ",nw_dst=" + VIP + ",tp_dst=" + PORT + " actions=load:0xafc0963->NXM_NX_REG3[],"
                        + "load:0x2382->NXM_NX_REG4[0..15],load:0x2->NXM_NX_REG0[6..7]");
                sticksToOne(client2, 5);
                assertTrue(learned(dp).stream().noneMatch(f -> f.flow().actions().contains(
                        new OfAction.RegLoad(OfField.REG3, 0, 32, Match.parseIpv4("10.252.9.99")))), () -> learned(dp).toString());

                // client1's endpoint leaves: the port's learned flows go, its clients choose among the others
                List<ServiceEndpoint> rest = new ArrayList<>(List.of(all));
                rest.remove(eps.get(first));
                services.update(ports(affinityPort(10800, rest.toArray(ServiceEndpoint[]::new))));
                assertTrue(learned(dp).isEmpty(), () -> "learned flows kept after an endpoint left: " + learned(dp));
                String moved = sticksToOne(client1, 10);
                assertTrue(!moved.equals(first), "still sent to the removed endpoint " + first);

                // a short timeout: the learned flow expires (hard_timeout), after which the group chooses again
                services.update(ports(affinityPort(2, all)));
                assertTrue(learned(dp).isEmpty(), "a new timeout forgets what was learned under the old one");
                sticksToOne(client1, 3);
                assertTrue(String.join("\n", ovs.dumpFlows("table=41")).contains("hard_timeout=2"));
                await().atMost(Duration.ofSeconds(8)).pollInterval(Duration.ofMillis(250)).until(() -> learned(dp).isEmpty());

                // affinity off: nothing is learned any more
                sticksToOne(client1, 2);
                assertEquals(1, learned(dp).size());
                services.update(ports(new ServicePort(affinityPort(2, all).key(), "default/sticky", "who", List.of(all))));
                assertTrue(learned(dp).isEmpty(), "affinity turned off: its learned flows go");
                Map<String, Integer> spread = ask(client1, VIP, PORT, 20);
                assertEquals(20, spread.values().stream().mapToInt(Integer::intValue).sum(), spread::toString);
                assertTrue(learned(dp).isEmpty());
            } finally {
                servers.forEach(Process::destroyForcibly);
                dp.close();
            }
        }
    }
}
