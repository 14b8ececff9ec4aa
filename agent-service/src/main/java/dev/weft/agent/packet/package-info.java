/**
 * Crafting and reading packets: {@link dev.weft.agent.packet.Ipv4Frame} builds Ethernet/IPv4 frames with TCP, UDP or
 * ICMP and correct checksums (traceflow's probes, packet-outs in tests) and parses packet-ins.
 */
package dev.weft.agent.packet;
