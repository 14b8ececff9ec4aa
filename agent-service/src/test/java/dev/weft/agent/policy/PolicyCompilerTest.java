package dev.weft.agent.policy;

import dev.weft.net.IpPrefix;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static dev.weft.agent.policy.Events.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The translation of policies to conjunctive flows, flow by flow (no switch needed: the flows are values). */
class PolicyCompilerTest {

    static PodInterface pod(String ns, String name, String ip, int ofport) {
        return new PodInterface(ns, name, "c-" + name, "eth0", "", List.of(ip), "0a:00:00:00:00:0" + (ofport % 10), "v" + name, "", ofport);
    }

    static List<String> flows(PolicyState s, Map<String, PodInterface> pods) {
        return PolicyCompiler.compile(s, pods, new PolicyCompiler.ConjIds()).flows().stream().map(FlowMod::toString).sorted()
                .toList();
    }

    @Test
    void theWalkthroughsNginxAllowPolicy() {
        PolicyState s = new PolicyState();
        s.apply(addressGroup("ag-nginx", member("default", "nginx-1", "192.168.1.3"), member("default", "nginx-2", "192.168.2.3"),
                member("default", "nginx-3", "192.168.3.3")));
        s.apply(appliedToGroup("atg-nginx", member("default", "nginx-1", "192.168.1.3")));
        s.apply(policy(PolicyEvent.Type.ADDED, policy("uid-1", "default", "nginx-allow", 1, List.of("atg-nginx"),
                List.of(PolicyType.INGRESS), ingressFrom(0, List.of("ag-nginx"), List.of()))));
        List<String> f = flows(s, Map.of("default/nginx-1", pod("default", "nginx-1", "192.168.1.3", 6)));
        assertEquals(List.of(
                "table=100, priority=200,ip,reg1=0x6 actions=drop",
                "table=90, priority=190,ip,conj_id=1 actions=resubmit(,105)",
                "table=90, priority=200,ip,nw_src=192.168.1.3 actions=conjunction(1,1/2)",
                "table=90, priority=200,ip,nw_src=192.168.2.3 actions=conjunction(1,1/2)",
                "table=90, priority=200,ip,nw_src=192.168.3.3 actions=conjunction(1,1/2)",
                "table=90, priority=200,ip,reg1=0x6 actions=conjunction(1,2/2)"), f);
    }

    @Test
    void sharedMatchFlowsCarryEveryConjunction() {
        PolicyState s = new PolicyState();
        s.apply(addressGroup("ag", member("ns", "client", "10.0.0.9")));
        s.apply(appliedToGroup("atg", member("ns", "web", "10.0.0.2")));
        s.apply(policy(PolicyEvent.Type.ADDED, policy("p1", "ns", "a", 1, List.of("atg"), List.of(PolicyType.INGRESS),
                ingressFrom(0, List.of("ag"), List.of(), port(Protocol.TCP, 80)))));
        s.apply(policy(PolicyEvent.Type.ADDED, policy("p2", "ns", "b", 1, List.of("atg"), List.of(PolicyType.INGRESS),
                ingressFrom(0, List.of("ag"), List.of(), port(Protocol.UDP, 53)))));
        List<String> f = flows(s, Map.of("ns/web", pod("ns", "web", "10.0.0.2", 7)));
        assertTrue(f.contains("table=90, priority=200,ip,nw_src=10.0.0.9 actions=conjunction(1,1/3),conjunction(2,1/3)"), f::toString);
        assertTrue(f.contains("table=90, priority=200,ip,reg1=0x7 actions=conjunction(1,2/3),conjunction(2,2/3)"), f::toString);
        assertTrue(f.contains("table=90, priority=200,tcp,tp_dst=80 actions=conjunction(1,3/3)"), f::toString);
        assertTrue(f.contains("table=90, priority=200,udp,tp_dst=53 actions=conjunction(2,3/3)"), f::toString);
        assertEquals(1, f.stream().filter(x -> x.startsWith("table=100")).count(), "one isolation flow per pod");
    }

    @Test
    void ipBlockExceptIsSubtractedAndASingleDimensionGetsASecondClause() {
        PolicyState s = new PolicyState();
        s.apply(appliedToGroup("atg", member("ns", "web", "10.0.0.2")));
        s.apply(policy(PolicyEvent.Type.ADDED, policy("p", "ns", "p", 1, List.of("atg"), List.of(PolicyType.INGRESS),
                ingressFrom(0, List.of(), List.of(block("172.17.0.0/16", "172.17.1.0/24"))),
                ingressFrom(1, List.of(), List.of()))));
        List<String> f = flows(s, Map.of("ns/web", pod("ns", "web", "10.0.0.2", 7)));
        List<String> cidrs = f.stream().filter(x -> x.contains("nw_src=172.17")).map(x -> x.replaceAll(".*nw_src=(\\S+) .*", "$1"))
                .collect(Collectors.toList());
        assertEquals(List.of("172.17.0.0/24", "172.17.128.0/17", "172.17.16.0/20", "172.17.2.0/23", "172.17.32.0/19",
                "172.17.4.0/22", "172.17.64.0/18", "172.17.8.0/21"), cidrs);
        // rule 1 allows everything to the pod: its only dimension (the pod) plus a match-all clause
        assertTrue(f.contains("table=90, priority=200,ip actions=conjunction(2,2/2)"), f::toString);
        assertTrue(f.contains("table=90, priority=200,ip,reg1=0x7 actions=conjunction(1,2/2),conjunction(2,1/2)"), f::toString);
    }

    @Test
    void namedPortsAreResolvedOnTheTargetsAndRangesBecomeMasks() {
        PolicyState s = new PolicyState();
        s.apply(addressGroup("ag", member("ns", "client", "10.0.0.9")));
        s.apply(appliedToGroup("atg", member("ns", "web1", "10.0.0.2", namedPort("http", 8080)),
                member("ns", "web2", "10.0.0.3", namedPort("http", 9090))));
        s.apply(policy(PolicyEvent.Type.ADDED, policy("p", "ns", "p", 1, List.of("atg"), List.of(PolicyType.INGRESS, PolicyType.EGRESS),
                ingressFrom(0, List.of("ag"), List.of(), namedPortService("http")),
                egressTo(0, List.of("ag"), portRange(Protocol.TCP, 1000, 1023)))));
        List<String> f = flows(s, Map.of("ns/web1", pod("ns", "web1", "10.0.0.2", 7), "ns/web2", pod("ns", "web2", "10.0.0.3", 8)));
        assertTrue(f.stream().anyMatch(x -> x.equals("table=90, priority=200,tcp,tp_dst=8080 actions=conjunction(1,3/3)")), f::toString);
        assertTrue(f.stream().anyMatch(x -> x.equals("table=90, priority=200,ip,reg1=0x7 actions=conjunction(1,2/3)")), f::toString);
        assertTrue(f.stream().anyMatch(x -> x.equals("table=90, priority=200,tcp,tp_dst=9090 actions=conjunction(2,3/3)")), f::toString);
        assertTrue(f.stream().anyMatch(x -> x.equals("table=90, priority=200,ip,reg1=0x8 actions=conjunction(2,2/3)")), f::toString);
        assertTrue(f.stream().anyMatch(x -> x.equals("table=50, priority=200,tcp,tp_dst=0x3e8/0xfff8 actions=conjunction(3,3/3)")), f::toString);
        assertTrue(f.stream().anyMatch(x -> x.equals("table=50, priority=200,tcp,tp_dst=0x3f0/0xfff0 actions=conjunction(3,3/3)")), f::toString);
        assertTrue(f.stream().anyMatch(x -> x.equals("table=50, priority=200,ip,in_port=7 actions=conjunction(3,2/3)")), f::toString);
        assertTrue(f.stream().anyMatch(x -> x.equals("table=50, priority=190,ip,conj_id=3 actions=resubmit(,70)")), f::toString);
        assertTrue(f.stream().anyMatch(x -> x.equals("table=60, priority=200,ip,in_port=8 actions=drop")), f::toString);
    }

    @Test
    void cidrArithmetic() {
        assertEquals(List.of(), IpPrefix.parse("10.0.0.0/24").subtract(List.of(IpPrefix.parse("10.0.0.0/16"))));
        assertEquals("[10.0.0.0/25]", IpPrefix.parse("10.0.0.0/24")
                .subtract(List.of(IpPrefix.parse("10.0.0.128/25"))).toString());
        assertEquals(List.of(new PortRanges.PortMask(80, 0xffff)), PortRanges.portRange(80, 80));
        assertEquals(2, PortRanges.portRange(1000, 1023).size());
    }

    @Test
    void aNewSnapshotReplacesAndBadEventsAreReportedNotApplied() {
        PolicyState s = new PolicyState();
        assertTrue(s.apply(Events.deleted(dev.weft.proto.controlplane.v1.ObjectKind.OBJECT_KIND_UNSPECIFIED, "x")) != null);
        assertTrue(s.apply(dev.weft.proto.controlplane.v1.PolicyEvent.newBuilder().setType(PolicyEvent.Type.ADDED)
                .setKind(dev.weft.proto.controlplane.v1.ObjectKind.NETWORK_POLICY).setName("p").build()) != null);
        assertEquals(0, s.policies().size());
    }

    @Test
    void egressNamedPortsResolveOnEveryPodOfTheAllPodsGroupNotOnIpBlocksAndOnlyForTheirProtocol() {
        PolicyState s = new PolicyState();
        // what policy-service sends for egress [{ports: [{port: serve-80-tcp}]}]: the all-pods group as peers
        s.apply(addressGroup("ag-all", member("ns", "client", "10.0.0.2"),
                member("ns", "server-a", "10.0.0.5", namedPort("serve-80-tcp", 80)),
                member("other", "server-b", "10.0.1.6", namedPort("serve-80-tcp", 80)),
                member("other", "server-c", "10.0.1.7", namedPort("serve-80-tcp", 8080))));
        s.apply(appliedToGroup("atg", member("ns", "client", "10.0.0.2")));
        s.apply(policy(PolicyEvent.Type.ADDED, policy("p", "ns", "p", 1, List.of("atg"), List.of(PolicyType.EGRESS),
                egressTo(0, List.of("ag-all"), namedPortService("serve-80-tcp")),
                egressToBlocks(1, List.of(block("10.0.0.0/8")), namedPortService("serve-80-tcp")),
                egressTo(2, List.of("ag-all"), dev.weft.proto.controlplane.v1.Service.newBuilder()
                        .setProtocol(Protocol.UDP).setPortName("serve-80-tcp").build()))));
        List<String> f = flows(s, Map.of("ns/client", pod("ns", "client", "10.0.0.2", 7)));
        List<String> dsts = f.stream().filter(x -> x.contains("nw_dst=")).map(x -> x.replaceAll(".*nw_dst=(\\S+) .*", "$1"))
                .sorted().toList();
        assertEquals(List.of("10.0.0.5", "10.0.1.6", "10.0.1.7"), dsts, "only pods serving the name, each once");
        assertTrue(f.contains("table=50, priority=200,tcp,tp_dst=80 actions=conjunction(1,3/3)"), f::toString);
        assertTrue(f.contains("table=50, priority=200,tcp,tp_dst=8080 actions=conjunction(2,3/3)"), f::toString);
        assertTrue(f.stream().noneMatch(x -> x.contains("udp")), "UDP name served by no pod over UDP: nothing " + f);
        assertTrue(f.stream().noneMatch(x -> x.contains("10.0.0.0/8")), "a named port cannot resolve on an ipBlock " + f);
        assertTrue(f.contains("table=60, priority=200,ip,in_port=7 actions=drop"), f::toString);
    }
}
