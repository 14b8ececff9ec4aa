package dev.weft.agent.policy;

import dev.weft.agent.node.PodInterface;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.weft.agent.policy.Events.*;

/** Generated policy sets at scale for the benchmarks (Antrea's BatchInstallPolicyRuleFlows shape). */
final class Scale {

    private Scale() {
    }

    static Map<String, PodInterface> pods(int n) {
        Map<String, PodInterface> pods = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String ip = "10.200." + (i / 250) + "." + (i % 250 + 2);
            pods.put("bench/pod-" + i, new PodInterface("bench", "pod-" + i, "c" + i, "eth0", "", List.of(ip),
                    String.format("0a:00:00:00:%02x:%02x", i / 256, i % 256), "vb" + i, "", 1000 + i));
        }
        return pods;
    }

    /** {@code rules} ingress rules (one policy each), each from {@code ips} distinct peer addresses to one local pod. */
    static PolicyState rules(int rules, int ips, int firstRule, Map<String, PodInterface> pods) {
        PolicyState s = new PolicyState();
        addRules(s, rules, ips, firstRule, pods);
        return s;
    }

    static void addRules(PolicyState s, int rules, int ips, int firstRule, Map<String, PodInterface> pods) {
        List<PodInterface> targets = new ArrayList<>(pods.values());
        for (int r = firstRule; r < firstRule + rules; r++) {
            List<dev.weft.proto.controlplane.v1.GroupMember> members = new ArrayList<>();
            for (int i = 0; i < ips; i++) {
                long a = 0x0b000000L + (long) r * ips + i; // 11.x.y.z, unique per rule and address
                members.add(member("peers", "p" + r + "-" + i, ((a >> 24) & 255) + "." + ((a >> 16) & 255) + "." + ((a >> 8) & 255) + "." + (a & 255)));
            }
            s.apply(addressGroup("ag-" + r, members.toArray(dev.weft.proto.controlplane.v1.GroupMember[]::new)));
            PodInterface t = targets.get(r % targets.size());
            s.apply(appliedToGroup("atg-" + r, member(t.namespace(), t.name(), t.ips().get(0))));
            s.apply(policy(PolicyEvent.Type.ADDED, policy("np-" + r, "bench", "np-" + r, 1, List.of("atg-" + r),
                    List.of(PolicyType.INGRESS), ingressFrom(0, List.of("ag-" + r), List.of(), port(Protocol.TCP, 8000 + r % 100)))));
        }
    }
}
