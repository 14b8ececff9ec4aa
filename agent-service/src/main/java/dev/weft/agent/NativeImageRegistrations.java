package dev.weft.agent;

import dev.weft.agent.ipam.IpLease;
import dev.weft.agent.ipam.NodeIpAllocator;
import dev.weft.agent.node.PodInterface;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * What a native build of the agent ({@code ./mvnw package -Pnative -pl agent-service}, GraalVM or Mandrel for JDK 25;
 * not available on our machines, see docs/deploy.md) must reach by reflection beyond what the Quarkus extensions
 * register (gRPC services and stubs, the Kubernetes client and its model, Vert.x):
 * <ul>
 * <li>Jackson: the records the agent persists and reads back (IP leases, pod interfaces); Jackson finds their
 * canonical constructors and accessors by reflection;</li>
 * <li>Netty: the epoll channels the agent builds by class (OpenFlow over unix: and tcp:, the CNI socket's server).
 * Netty's own native-image configuration lists them too, but only when its {@code Native} class is reachable;
 * naming them here keeps the agent independent of that condition;</li>
 * <li>openflowj: nothing -- its message classes are plain generated code reached by direct calls, and it looks
 * nothing up by name (its only {@code forName} is {@code Charset.forName}).</li>
 * </ul>
 */
@RegisterForReflection(targets = {
        NodeIpAllocator.LeaseFile.class, IpLease.class, PodInterface.class,
        EpollDomainSocketChannel.class, EpollServerDomainSocketChannel.class, EpollSocketChannel.class})
public final class NativeImageRegistrations {

    private NativeImageRegistrations() {
    }
}
