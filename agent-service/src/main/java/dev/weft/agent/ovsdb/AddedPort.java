package dev.weft.agent.ovsdb;

/** The result of adding a port: its Port row UUID and the OpenFlow port number ovs-vswitchd assigned. */
public record AddedPort(String name, String portUuid, String interfaceUuid, int ofport) {
}
