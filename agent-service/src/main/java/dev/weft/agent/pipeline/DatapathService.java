package dev.weft.agent.pipeline;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodDatapath;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.openflow.OfException;
import dev.weft.agent.ovsdb.OvsdbClient;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The agent's datapath as a CDI bean: owns the {@link Datapath} on {@code agent.openflow-endpoint}, persists the flow
 * round in the bridge's external_ids (OVSDB), and implements the CNI server's {@link PodDatapath} contract.
 */
@ApplicationScoped
public class DatapathService implements PodDatapath {

    private static final Logger LOG = Logger.getLogger(DatapathService.class);
    static final String ROUND_KEY = "weft-flow-round";

    @Inject
    AgentConfig config;

    @Inject
    Instance<OvsdbClient> ovsdb;

    private volatile Datapath datapath;
    private final java.util.Set<RestartStep> restartStepsDone = java.util.EnumSet.noneOf(RestartStep.class);

    /**
     * What this run must have installed before the previous run's flows are deleted after an agent restart; the
     * grace period ({@code agent.flow-round-grace-seconds}) bounds the wait when one never comes (an API that does
     * not answer).
     */
    public enum RestartStep {
        /** the CNI server reconciled its attachments with the API and replayed every live pod's flows */
        PODS,
        /** the policy stream's first snapshot is applied */
        POLICY,
        /** the peer nodes' routes are installed from the synced Node informer */
        PEER_NODES,
        /** the Services are installed from the synced Service and EndpointSlice informers */
        SERVICES
    }
    private final java.util.List<Runnable> beforeForwarding = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "datapath-timer");
        t.setDaemon(true);
        return t;
    });

    void onStart(@Observes StartupEvent e) {
        datapath();
    }

    void onStop(@Observes ShutdownEvent e) {
        timer.shutdownNow();
        Datapath dp = datapath;
        if (dp != null) {
            dp.close();
        }
    }

    /** The pipeline, connecting (in the background) on first use. */
    public synchronized Datapath datapath() {
        if (datapath == null) {
            OfEndpoint endpoint = OfEndpoint.parse(config.resolvedOpenflowEndpoint());
            Datapath dp = new Datapath(endpoint, new OvsdbRoundStore());
            // registered before the first connection: every (re)connection replays all flows, then lets OVS forward
            dp.onReady(this::letSwitchForward);
            datapath = dp.start();
            // the previous run's flows stay until this run has everything in place (or the grace period ends)
            timer.schedule(this::finishRestartQuietly, config.flowRoundGraceSeconds(), TimeUnit.SECONDS);
        }
        return datapath;
    }

    /** The pods' ports are checked (an ovs-vswitchd restart may have renumbered them), then OVS may forward. */
    private void letSwitchForward() {
        for (Runnable r : beforeForwarding) {
            try {
                r.run();
            } catch (RuntimeException e) {
                LOG.warnf("check before forwarding failed: %s", e.getMessage());
            }
        }
        clearFlowRestoreWait();
        if (restartStepsComplete() && datapath().previousRound() > 0) {
            finishRestartQuietly(); // everything was back while the switch was away
        }
    }

    @Override
    public void beforeForwarding(Runnable check) {
        beforeForwarding.add(check);
    }

    private void clearFlowRestoreWait() {
        try {
            ovsdb.get().clearFlowRestoreWait();
        } catch (Exception e) {
            LOG.warnf("could not clear flow-restore-wait (Open vSwitch may not forward until it is): %s", e.getMessage());
        }
    }

    /** Called when every feature has re-installed its flows after an agent restart, or the grace period ended. */
    public void finishRestartQuietly() {
        try {
            if (!datapath().finishRestart()) {
                LOG.info("not connected to Open vSwitch: the previous run's flows go once it is");
            }
        } catch (RuntimeException e) {
            LOG.warnf("could not delete the previous run's flows yet: %s", e.getMessage());
        }
    }

    /**
     * One part of this run is installed; once every {@link RestartStep} is, the previous run's flows are deleted
     * (not only when the grace period ends).
     */
    public void restartStepDone(RestartStep step) {
        boolean all;
        synchronized (restartStepsDone) {
            if (!restartStepsDone.add(step)) {
                return;
            }
            all = restartStepsDone.size() == RestartStep.values().length;
            LOG.debugf("restart step %s done (%s)", step, restartStepsDone);
        }
        if (all && datapath().previousRound() > 0) {
            LOG.infof("pods, policies, peer nodes and Services of this run are installed: deleting the previous run's flows");
            finishRestartQuietly();
        }
    }

    private boolean restartStepsComplete() {
        synchronized (restartStepsDone) {
            return restartStepsDone.size() == RestartStep.values().length;
        }
    }

    @Override
    public void podsReconciled() {
        restartStepDone(RestartStep.PODS);
    }

    private final class OvsdbRoundStore implements Datapath.RoundStore {
        public int load() throws Exception {
            String v = ovsdb.get().getBridgeExternalIds(config.bridge()).get(ROUND_KEY);
            return v == null || v.isBlank() ? 0 : Integer.parseInt(v.trim());
        }

        public void save(int round) throws Exception {
            Map<String, String> put = new HashMap<>();
            put.put(ROUND_KEY, Integer.toString(round));
            ovsdb.get().setBridgeExternalIds(config.bridge(), put);
        }
    }

    @Override
    public void nodeNetworkReady(NodeNetwork node) throws DatapathException {
        try {
            datapath().nodeNetworkReady(node);
        } catch (OfException | IllegalArgumentException e) {
            throw new DatapathException("node flows: " + e.getMessage(), e);
        }
    }

    @Override
    public void podAdded(PodInterface pod) throws DatapathException {
        try {
            datapath().podAdded(pod);
        } catch (OfException | IllegalArgumentException e) {
            throw new DatapathException("flows of pod " + pod.key() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void podRemoved(PodInterface pod) throws DatapathException {
        try {
            datapath().podRemoved(pod);
        } catch (OfException | IllegalArgumentException e) {
            throw new DatapathException("removing flows of pod " + pod.key() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean podInstalled(PodInterface pod) {
        return datapath().feature(PodConnectivityFeature.class).installed(pod);
    }
}
