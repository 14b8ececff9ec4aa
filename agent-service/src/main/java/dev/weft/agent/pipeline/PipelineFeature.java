package dev.weft.agent.pipeline;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodInterface;

import java.util.List;
import java.util.Set;

/**
 * One feature of the pipeline (pipeline defaults, gateway, pod connectivity, peer nodes, NetworkPolicy; Services
 * next): the tables it puts flows in, the cookie categories its flows carry, the flows it computes from the current
 * state, and how it reacts when that state changes. A feature installs its flows through
 * {@link Datapath#apply(PipelineFeature, long, List)} (or {@link Datapath#applyChanges(PipelineFeature, long,
 * java.util.Map)} for a feature changed flow by flow), which refuses a flow outside its tables or categories.
 *
 * <p>The datapath calls the reactions in the order features were registered, under its lock (a feature's state is
 * guarded by it too), on the caller's thread. A reaction that fails stops the fan-out and is thrown to the caller.
 * A new feature is a new class, its table entries in {@link PipelineTable} and its registration.
 */
public interface PipelineFeature {

    /** What the feature is: its name, the tables it puts flows in, the cookie categories of its flows. */
    Declaration declaration();

    /**
     * @param name       the name docs and logs use (PodConnectivity)
     * @param tables     the tables the feature puts flows in
     * @param categories the cookie categories of its flows
     */
    record Declaration(String name, List<PipelineTable> tables, Set<Cookie.Category> categories) {
        public Declaration {
            tables = List.copyOf(tables);
            categories = Set.copyOf(categories);
        }

        /** Whether a flow in this table with this cookie category can be the feature's. */
        public boolean owns(int table, Cookie.Category category) {
            if (!categories.contains(category)) {
                return false;
            }
            for (PipelineTable t : tables) {
                if (t.id == table) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Registered on the datapath: install the flows that depend on no state (kept until the switch connects). */
    default void registered() {
    }

    /** The node's network (gateway, pod CIDRs) is known or changed. */
    default void nodeNetworkChanged(NodeNetwork node) {
    }

    /** A local pod came, or was given again (the CNI server replays pods; flows must be idempotent). */
    default void podAdded(PodInterface pod) {
    }

    /** A local pod goes. */
    default void podRemoved(PodInterface pod) {
    }

    /** The set of local pods changed (after {@link #podAdded} / {@link #podRemoved}, only when it did change). */
    default void localPodsChanged() {
    }

    /** After each (re)connection, once every stored flow is on the switch. Runs outside the datapath's lock. */
    default void switchReady() {
    }
}
