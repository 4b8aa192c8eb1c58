// Holdpoint's ServerItemService (wsdl/server-items.wsdl, schemas/server-items.xsd) as a WCF
// contract. Data fields are <field name="x">value</field>, an attribute beside text, which
// DataContractSerializer cannot express: the contract uses XmlSerializer, as svcutil does
// for such schemas. Mono honours [XmlSerializerFormat] only on operations (on the contract
// it is ignored and DataContractSerializer writes the body), so each operation has it.
//
// Every fault carries <hp:error><hp:code/><hp:message/></hp:error> as its detail; the
// operations declare it as their fault contract, so the client gets a
// FaultException<HoldpointError>. Without a declared contract Mono reads any fault detail as
// WCF's ExceptionDetail and throws a SerializationException instead of a FaultException.

using System;
using System.Runtime.Serialization;
using System.ServiceModel;
using System.Xml.Serialization;

namespace Holdpoint.Interop.ServerItems
{
    public static class Namespaces
    {
        public const string ServerItems = "urn:holdpoint:server-items";
        public const string Faults = "urn:holdpoint:faults";
    }

    [ServiceContract(Namespace = Namespaces.ServerItems)]
    [XmlSerializerFormat]
    public interface IServerItemService
    {
        [OperationContract(Action = Namespaces.ServerItems + "/OpenServerItem")]
        [XmlSerializerFormat]
        [FaultContract(typeof(HoldpointError))]
        [return: MessageParameter(Name = "item")]
        ServerItem OpenServerItem(string serialNumber);

        // The response is instanceId, status, replayed: svcutil's shape for a wrapped
        // response of several parts is the first as the return value, the rest as out.
        [OperationContract(Action = Namespaces.ServerItems + "/FinishServerItem")]
        [XmlSerializerFormat]
        [FaultContract(typeof(HoldpointError))]
        [return: MessageParameter(Name = "instanceId")]
        long FinishServerItem(string serialNumber, Fields fields, string idempotencyKey,
            out string status, out bool replayed);
    }

    // The fault detail, urn:holdpoint:faults (the same in every Holdpoint service).
    [DataContract(Name = "error", Namespace = Namespaces.Faults)]
    public class HoldpointError
    {
        [DataMember(Name = "code", Order = 0)] public string Code;
        [DataMember(Name = "message", Order = 1)] public string Message;
    }

    [XmlType(Namespace = Namespaces.ServerItems)]
    public class Field
    {
        [XmlAttribute("name")] public string Name;
        [XmlText] public string Value;
    }

    [XmlType(Namespace = Namespaces.ServerItems)]
    public class Fields
    {
        [XmlElement("field", Namespace = Namespaces.ServerItems)] public Field[] Items;
    }

    [XmlType(Namespace = Namespaces.ServerItems)]
    public class ServerItem
    {
        [XmlElement("serialNumber", Namespace = Namespaces.ServerItems)] public string SerialNumber;
        [XmlElement("instanceId", Namespace = Namespaces.ServerItems)] public long InstanceId;
        [XmlElement("workflowId", Namespace = Namespaces.ServerItems)] public string WorkflowId;
        [XmlElement("folio", Namespace = Namespaces.ServerItems)] public string Folio;
        [XmlElement("step", Namespace = Namespaces.ServerItems)] public string Step;
        [XmlElement("state", Namespace = Namespaces.ServerItems)] public string State;
        [XmlElement("deadline", Namespace = Namespaces.ServerItems)] public DateTime Deadline;
        [XmlElement("fields", Namespace = Namespaces.ServerItems)] public Fields Fields;
    }
}
