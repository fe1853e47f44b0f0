#!/usr/bin/env bash
# Package a raw appliance disk as an OVA that imports in VMware and
# VirtualBox: streamOptimized VMDK (python3-vmdkstream: deterministic,
# unlike qemu-img's), OVF 1.0 (1 vCPU, 256 MiB, SATA/AHCI disk, e1000 NIC,
# product section), a SHA256 manifest and a certificate file signing it,
# tarred in the order OVF, MF, CERT, VMDK with pinned owner and mtime.
#
#   scripts/ova.sh DISK.img OUT.ova VERSION KEY CERT WORKDIR
set -euo pipefail

IMG=$1 OVA=$(realpath -m "$2") VERSION=$3 KEY=$4 CERT=$5 W=$6
EPOCH=${SOURCE_DATE_EPOCH:-0}
base=$(basename "$OVA" .ova)
ovf=$base.ovf mf=$base.mf cert=$base.cert vmdk=$base-disk1.vmdk

rm -rf "$W" && mkdir -p "$W"
/usr/bin/python3 -c 'import sys, VMDKstream; VMDKstream.convert_to_stream(sys.argv[1], sys.argv[2])' \
	"$IMG" "$W/$vmdk"
capacity=$(stat -c %s "$IMG")
vmdk_size=$(stat -c %s "$W/$vmdk")

cat >"$W/$ovf" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="outpost-$VERSION" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="$vmdk" ovf:id="file1" ovf:size="$vmdk_size"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="$capacity" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="nat">
      <Description>The network the appliance dials out from</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="outpost">
    <Info>outpost connector appliance</Info>
    <Name>outpost</Name>
    <OperatingSystemSection ovf:id="101">
      <Info>The kind of installed guest operating system</Info>
      <Description>Other Linux (64-bit)</Description>
      <vmw:osType>other5xLinux64Guest</vmw:osType>
    </OperatingSystemSection>
    <ProductSection>
      <Info>Product information</Info>
      <Product>outpost</Product>
      <Vendor>outpost</Vendor>
      <Version>$VERSION</Version>
      <FullVersion>$VERSION</FullVersion>
    </ProductSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>outpost</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-10</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>256MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>256</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SATA Controller</rasd:Description>
        <rasd:ElementName>sataController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>disk0</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>nat</rasd:Connection>
        <rasd:Description>E1000 ethernet adapter on "nat"</rasd:Description>
        <rasd:ElementName>ethernet0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
EOF

(cd "$W" && for f in "$ovf" "$vmdk"; do
	echo "SHA256($f)= $(sha256sum "$f" | cut -d' ' -f1)"
done) >"$W/$mf"
sig=$(openssl dgst -sha256 -sign "$KEY" "$W/$mf" | od -An -v -tx1 | tr -d ' \n')
{ echo "SHA256($mf)= $sig"; cat "$CERT"; } >"$W/$cert"

(cd "$W" && chmod 0644 "$ovf" "$mf" "$cert" "$vmdk" &&
	tar --format=ustar --owner=0 --group=0 --numeric-owner \
		--mtime="@$EPOCH" -cf "$OVA.tmp" "$ovf" "$mf" "$cert" "$vmdk")
mv "$OVA.tmp" "$OVA"
