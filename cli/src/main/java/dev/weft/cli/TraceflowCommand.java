package dev.weft.cli;

import dev.weft.proto.agent.v1.PodFilter;
import dev.weft.proto.agent.v1.TraceNode;
import dev.weft.proto.agent.v1.TraceObservation;
import dev.weft.proto.agent.v1.TraceflowRequest;
import dev.weft.proto.agent.v1.TraceflowResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

import static dev.weft.cli.Output.row;

/**
 * {@code weftctl traceflow}: asks the agent of the source pod's node to inject one tagged packet at the pod's port and
 * report, node by node, what the pipeline did with it (as Antrea's {@code antctl traceflow}).
 */
@Command(name = "traceflow", aliases = "tf", mixinStandardHelpOptions = true,
        description = "Trace one packet from a pod through the datapath of every node it crosses.",
        footer = {"", "Examples:",
                "  Trace a TCP SYN from busybox to nginx's port 80 (run against the agent of busybox's node)",
                "  $ weftctl traceflow -S default/busybox -D default/nginx-abc12 -f tcp,tcp_dst=80",
                "  Trace a UDP packet to an IP and port, as YAML",
                "  $ weftctl traceflow -S default/busybox -D 10.96.0.10:53 -f udp -o yaml"})
class TraceflowCommand implements Callable<Integer> {

    private static final Pattern IP_PORT = Pattern.compile("(\\d+\\.\\d+\\.\\d+\\.\\d+)(?::(\\d+))?");

    @ParentCommand
    Weftctl root;

    @Option(names = {"-S", "--source"}, required = true, description = "Source pod: NAMESPACE/POD (or POD in default).")
    String source;

    @Option(names = {"-D", "--destination"}, required = true, description = "Destination: NAMESPACE/POD, POD, IP or IP:PORT.")
    String destination;

    @Option(names = {"-f", "--flow"}, defaultValue = "tcp",
            description = "The packet: tcp (default), udp or icmp, with tcp_dst=PORT / udp_dst=PORT, e.g. 'tcp,tcp_dst=80'.")
    String flow;

    @Option(names = {"-t", "--timeout"}, defaultValue = "5", description = "Seconds to wait for the packet (default ${DEFAULT-VALUE}).")
    int timeout;

    @Option(names = {"-o", "--output"}, defaultValue = "table", description = "Output format: table, json or yaml.")
    String output;

    @Override
    public Integer call() {
        try {
            Output.Format f = Output.Format.parse(output);
            TraceflowRequest request = request();
            TraceflowResponse r = root.call(s -> s.withDeadlineAfter(timeout * 2L + 10, java.util.concurrent.TimeUnit.SECONDS)
                    .traceflow(request));
            System.out.print(render(r, f));
            return r.getResult().equals("Delivered") || r.getResult().equals("Dropped") || r.getResult().equals("Forwarded") ? 0 : 2;
        } catch (IllegalArgumentException | IllegalStateException e) {
            System.err.println("error: " + e.getMessage());
            return 1;
        }
    }

    TraceflowRequest request() {
        TraceflowRequest.Builder b = TraceflowRequest.newBuilder().setSource(pod(source, "-S")).setTimeoutSeconds(timeout);
        int port = 0;
        var m = IP_PORT.matcher(destination);
        if (m.matches()) {
            b.setDestinationIp(m.group(1));
            if (m.group(2) != null) {
                port = Integer.parseInt(m.group(2));
            }
        } else {
            b.setDestinationPod(pod(destination, "-D"));
        }
        String proto = null;
        for (String part : flow.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            if (p.equals("tcp") || p.equals("udp") || p.equals("icmp")) {
                if (proto != null && !proto.equals(p)) {
                    throw new IllegalArgumentException("-f names two protocols: " + proto + " and " + p);
                }
                proto = p;
            } else if (p.startsWith("tcp_dst=") || p.startsWith("udp_dst=") || p.startsWith("tp_dst=")) {
                try {
                    port = Integer.parseInt(p.substring(p.indexOf('=') + 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("-f: bad port in '" + p + "'");
                }
                if (proto == null) {
                    proto = p.startsWith("udp") ? "udp" : "tcp";
                }
            } else {
                throw new IllegalArgumentException("-f: unknown field '" + p + "' (tcp, udp, icmp, tcp_dst=N, udp_dst=N)");
            }
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " out of 1..65535");
        }
        return b.setProtocol(proto == null ? "tcp" : proto).setDestinationPort(port).build();
    }

    private static PodFilter pod(String s, String flag) {
        String[] p = s.split("/", -1);
        if (p.length > 2 || p[p.length - 1].isEmpty() || (p.length == 2 && p[0].isEmpty())) {
            throw new IllegalArgumentException(flag + " '" + s + "': expected NAMESPACE/POD or POD");
        }
        return PodFilter.newBuilder().setNamespace(p.length == 2 ? p[0] : "default").setName(p[p.length - 1]).build();
    }

    static String render(TraceflowResponse r, Output.Format f) {
        if (f != Output.Format.TABLE) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("source", r.getSource());
            doc.put("destination", r.getDestination());
            doc.put("packet", r.getPacket());
            doc.put("tag", r.getTag());
            doc.put("result", r.getResult());
            List<Object> nodes = new ArrayList<>();
            for (TraceNode n : r.getNodesList()) {
                List<Object> obs = new ArrayList<>();
                for (TraceObservation o : n.getObservationsList()) {
                    Map<String, Object> m = row("component", o.getComponent(), "action", o.getAction());
                    if (!o.getNetworkPolicy().isEmpty()) {
                        m.put("networkPolicy", o.getNetworkPolicy());
                        m.put("rule", o.getRule());
                    }
                    if (!o.getInfo().isEmpty()) {
                        m.put("info", o.getInfo());
                    }
                    obs.add(m);
                }
                nodes.add(row("node", n.getNode(), "observations", obs));
            }
            doc.put("nodes", nodes);
            return Output.structured(f, doc);
        }
        StringBuilder sb = new StringBuilder();
        sb.append("source: ").append(r.getSource()).append('\n');
        sb.append("destination: ").append(r.getDestination()).append('\n');
        sb.append("packet: ").append(r.getPacket()).append(" (tag ").append(r.getTag()).append(")\n");
        sb.append("result: ").append(r.getResult()).append("\n\n");
        List<Map<String, Object>> rows = new ArrayList<>();
        for (TraceNode n : r.getNodesList()) {
            for (TraceObservation o : n.getObservationsList()) {
                rows.add(row("NODE", n.getNode(), "COMPONENT", o.getComponent(), "ACTION", o.getAction(),
                        "NETWORKPOLICY", o.getNetworkPolicy(), "RULE", o.getRule(), "INFO", o.getInfo()));
            }
        }
        sb.append(Output.table(List.of("NODE", "COMPONENT", "ACTION", "NETWORKPOLICY", "RULE", "INFO"), rows));
        return sb.toString();
    }
}
