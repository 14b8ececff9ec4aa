package dev.weft.agent.info;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.AgentState;
import dev.weft.agent.pipeline.DatapathService;
import dev.weft.agent.pipeline.PipelineTable;
import dev.weft.proto.agent.v1.AgentInfo;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the cluster-scoped WeftAgentInfo object named after this node current (as Antrea's agents keep
 * AntreaAgentInfo): version, node and pod, node subnets, OVS version and bridge, flows per table, policies, local
 * pods and four conditions with reasons. `kubectl get weftagentinfos` shows every agent's health in one list. Written
 * on a fixed interval (a bounded rate whatever happens on the node), and at once when one of the conditions changes
 * (looked at every {@code agent.info.condition-check}); a failed write is logged and retried at the next check.
 */
@ApplicationScoped
public class AgentInfoPublisher {
    private static final Logger LOG = Logger.getLogger(AgentInfoPublisher.class);
    public static final ResourceDefinitionContext CONTEXT = new ResourceDefinitionContext.Builder()
            .withGroup("weft.dev").withVersion("v1alpha1").withKind("WeftAgentInfo").withPlural("weftagentinfos")
            .withNamespaced(false).build();

    private final KubernetesClient client;
    private final AgentState state;
    private final DatapathService datapath;
    private final AgentConfig config;
    private final AgentInfoConfig infoConfig;
    private ScheduledExecutorService timer;
    /** The conditions of the last object written; null until one is written. */
    private volatile AgentState.Conditions written;

    AgentInfoPublisher(KubernetesClient client, AgentState state, DatapathService datapath, AgentConfig config,
                       AgentInfoConfig infoConfig) {
        this.client = client;
        this.state = state;
        this.datapath = datapath;
        this.config = config;
        this.infoConfig = infoConfig;
    }

    void start(@Observes StartupEvent ev) {
        if (!infoConfig.enabled()) {
            return;
        }
        timer = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon().name("weft-agent-info").factory());
        long every = infoConfig.interval().toMillis();
        timer.scheduleWithFixedDelay(this::publishQuietly, 0, every, TimeUnit.MILLISECONDS);
        long check = infoConfig.conditionCheck().toMillis();
        timer.scheduleWithFixedDelay(this::publishIfConditionsChanged, check, check, TimeUnit.MILLISECONDS);
    }

    /** One write when a condition differs from the object last written (also when that write failed). */
    private void publishIfConditionsChanged() {
        try {
            if (!state.conditions().equals(written)) {
                publishQuietly();
            }
        } catch (RuntimeException e) {
            LOG.debugf(e, "WeftAgentInfo conditions not checked");
        }
    }

    void stop(@Observes ShutdownEvent ev) {
        if (timer != null) {
            timer.shutdownNow();
        }
    }

    private void publishQuietly() {
        try {
            publish();
        } catch (KubernetesClientException e) {
            LOG.warnf("WeftAgentInfo %s not written (next try in %s): %s", config.resolvedNodeName(),
                    infoConfig.interval(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.warnf(e, "WeftAgentInfo %s not written (next try in %s)", config.resolvedNodeName(), infoConfig.interval());
        }
    }

    /** Writes the object now: created if missing, replaced otherwise. */
    public void publish() {
        AgentInfo info = state.info();
        List<String> stalls = state.stalls();
        GenericKubernetesResource desired = object(info, datapath.datapath().storedFlowsPerTable(), stalls);
        var resource = client.genericKubernetesResources(CONTEXT).withName(desired.getMetadata().getName());
        GenericKubernetesResource current = resource.get();
        if (current == null) {
            client.genericKubernetesResources(CONTEXT).resource(desired).create();
        } else {
            desired.getMetadata().setResourceVersion(current.getMetadata().getResourceVersion());
            client.genericKubernetesResources(CONTEXT).resource(desired).update();
        }
        written = AgentState.Conditions.of(info, stalls);
    }

    GenericKubernetesResource object(AgentInfo info, Map<Integer, Long> flowsPerTable, List<String> stalls) {
        GenericKubernetesResource o = new GenericKubernetesResource();
        o.setApiVersion("weft.dev/v1alpha1");
        o.setKind("WeftAgentInfo");
        o.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(info.getNodeName())
                .addToLabels("app", "weft-agent").build());
        Map<String, Object> p = o.getAdditionalProperties();
        p.put("version", info.getVersion());
        p.put("nodeRef", Map.of("name", info.getNodeName()));
        Map<String, Object> pod = new LinkedHashMap<>();
        infoConfig.podNamespace().ifPresent(ns -> pod.put("namespace", ns));
        infoConfig.podName().ifPresent(n -> pod.put("name", n));
        if (!pod.isEmpty()) {
            p.put("podRef", pod);
        }
        p.put("nodeSubnets", List.copyOf(info.getPodCidrsList()));
        Map<String, Object> flowTable = new LinkedHashMap<>();
        for (PipelineTable t : PipelineTable.ordered()) {
            flowTable.put(t.displayName, flowsPerTable.getOrDefault(t.id, 0L));
        }
        Map<String, Object> ovs = new LinkedHashMap<>();
        ovs.put("version", info.getOvsVersion());
        ovs.put("bridgeName", info.getBridge());
        ovs.put("flowTable", flowTable);
        p.put("ovsInfo", ovs);
        p.put("flowCount", info.getFlows());
        p.put("localPodNum", info.getLocalPods());
        p.put("networkPolicyNum", info.getNetworkPolicies());
        p.put("memoryBytes", info.getRssBytes());
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        List<Map<String, Object>> conditions = new ArrayList<>();
        conditions.add(condition("AgentHealthy", stalls.isEmpty(), stalls.isEmpty() ? "" : "LoopStuck",
                String.join("; ", stalls), now));
        conditions.add(condition("ControllerConnectionUp", info.getControllerConnected(),
                info.getControllerConnected() ? "" : "NotSynced", "policy stream from policy-service", now));
        conditions.add(condition("OVSDBConnectionUp", info.getOvsdbConnected(),
                info.getOvsdbConnected() ? "" : "Unreachable", config.resolvedOvsdbSocket().toString(), now));
        conditions.add(condition("OpenflowConnectionUp", info.getOpenflowConnected(),
                info.getOpenflowConnected() ? "" : "Disconnected", "bridge " + info.getBridge(), now));
        p.put("agentConditions", conditions);
        return o;
    }

    private static Map<String, Object> condition(String type, boolean up, String reason, String message, String now) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("type", type);
        c.put("status", up ? "True" : "False");
        c.put("lastHeartbeatTime", now);
        if (!up) {
            c.put("reason", reason);
            c.put("message", message);
        }
        return c;
    }
}
