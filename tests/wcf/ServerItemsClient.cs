// A WCF caller of Holdpoint's ServerItemService over a CustomBinding (text encoding +
// HTTP transport, HTTP Basic).
//
//   server-items BASE_URL VERSION USER PASSWORD SERIAL
//     VERSION: soap12wsa (MessageVersion.Soap12WSAddressing10), soap12 or soap11. Opens
//     and finishes SERIAL, then finishes a serial that does not exist and expects a
//     FaultException<HoldpointError> with the code and reason of unknown_serial (for SOAP
//     1.2 the server must answer Sender faults with HTTP 500: Mono's WCF does not read a
//     fault on 400).
//   sender-fault BASE_URL USER PASSWORD bare|fault
//     Finishes an unknown serial over SOAP 1.2. "bare": the Sender fault comes with HTTP
//     400 and Mono gives a protocol error without code or reason; "fault": it comes with
//     HTTP 500 and arrives as a FaultException with code and reason.

using System;
using System.Net;
using System.ServiceModel;
using System.ServiceModel.Channels;
using System.Text;

namespace Holdpoint.Interop.ServerItems
{
    public static class Client
    {
        public static void Run(string[] args)
        {
            string version = args[1];
            var addressing = new AddressingCheck();
            IServerItemService service = Connect(args[0], Version(version), args[2], args[3], addressing);
            string serial = args[4];

            ServerItem item = service.OpenServerItem(serial);
            Check.That(item.SerialNumber == serial, "serial " + item.SerialNumber);
            Check.That(item.State == "open", "state " + item.State);
            Check.That(FieldValue(item, "order_id") == "W-1", "order_id " + FieldValue(item, "order_id"));
            Check.Ok(version + " OpenServerItem");

            string status;
            bool replayed;
            var fields = new Fields { Items = new[] { new Field { Name = "approved", Value = "true" } } };
            service.FinishServerItem(serial, fields, null, out status, out replayed);
            Check.That(status == "waiting" && !replayed, "finished: " + status + ", replayed " + replayed);
            Check.Ok(version + " FinishServerItem");

            FaultException<HoldpointError> fault = ExpectFault(service);
            CheckUnknownSerial(fault, version != "soap11");
            Check.Ok(version + " typed fault (" + fault.Code.Name + ": " + fault.Message + ")");

            if (version == "soap12wsa")
            {
                Check.That(addressing.Replies >= 2, "the inspector saw the replies");
                Check.Ok("wsa:Action and wsa:RelatesTo on every reply");
            }
        }

        public static void SenderFault(string[] args)
        {
            IServerItemService service = Connect(args[0], MessageVersion.Soap12, args[1], args[2], null);
            bool bare = args[3] == "bare";
            try
            {
                service.FinishServerItem("404_404", null, null, out _, out _);
                throw new Exception("check failed: an unknown serial must fault");
            }
            catch (FaultException<HoldpointError> fault)
            {
                Check.That(!bare, "with HTTP 400 Mono was not expected to read the fault: " + fault.Message);
                CheckUnknownSerial(fault, true);
                Check.Ok("Sender fault on HTTP 500 arrives as FaultException (" + fault.Code.Name + "/"
                    + fault.Code.SubCode.Name + ": " + fault.Message + ")");
            }
            catch (Exception error) when (bare && !(error is FaultException))
            {
                // What Mono gives: a WebException "There was an error on processing web
                // request: Status code 400(BadRequest): Bad Request", the body unread.
                Check.That(error.Message.Contains("400"), "a protocol error naming 400: " + error);
                Check.That(!error.Message.Contains("unknown serial"), "no reason from the fault body");
                Check.Ok("Sender fault on HTTP 400 arrives bare (" + error.GetType().FullName + ": " + error.Message + ")");
            }
        }

        static MessageVersion Version(string name)
        {
            switch (name)
            {
                case "soap12wsa": return MessageVersion.Soap12WSAddressing10;
                case "soap12": return MessageVersion.Soap12;
                case "soap11": return MessageVersion.Soap11;
                default: throw new ArgumentException("unknown version " + name);
            }
        }

        static IServerItemService Connect(string baseUrl, MessageVersion version, string user, string password,
            AddressingCheck addressing)
        {
            var binding = new CustomBinding(
                new TextMessageEncodingBindingElement(version, Encoding.UTF8),
                new HttpTransportBindingElement { AuthenticationScheme = AuthenticationSchemes.Basic });
            var factory = new ChannelFactory<IServerItemService>(binding,
                new EndpointAddress(baseUrl + "/soap/server-items"));
            factory.Credentials.UserName.UserName = user;
            factory.Credentials.UserName.Password = password;
            if (addressing != null && version.Addressing != AddressingVersion.None)
            {
                factory.Endpoint.Behaviors.Add(addressing);
            }
            return factory.CreateChannel();
        }

        static FaultException<HoldpointError> ExpectFault(IServerItemService service)
        {
            try
            {
                string status;
                bool replayed;
                service.FinishServerItem("404_404", null, null, out status, out replayed);
            }
            catch (FaultException<HoldpointError> fault)
            {
                return fault;
            }
            throw new Exception("check failed: finishing an unknown serial must fault");
        }

        // SOAP 1.2: Sender with the Subcode hp:unknown_serial; SOAP 1.1: Client. The reason
        // and the typed detail (hp:error/hp:code) say the same in both.
        static void CheckUnknownSerial(FaultException<HoldpointError> fault, bool soap12)
        {
            Check.That(fault.Code.Name == (soap12 ? "Sender" : "Client"), "fault code " + fault.Code.Name);
            if (soap12)
            {
                Check.That(fault.Code.SubCode != null && fault.Code.SubCode.Name == "unknown_serial"
                    && fault.Code.SubCode.Namespace == Namespaces.Faults, "subcode hp:unknown_serial");
            }
            Check.That(fault.Message.Contains("unknown serial"), "reason " + fault.Message);
            Check.That(fault.Detail != null && fault.Detail.Code == "unknown_serial",
                "detail code " + (fault.Detail == null ? "none" : fault.Detail.Code));
        }

        static string FieldValue(ServerItem item, string name)
        {
            if (item.Fields == null || item.Fields.Items == null)
            {
                return null;
            }
            foreach (Field field in item.Fields.Items)
            {
                if (field.Name == name)
                {
                    return field.Value;
                }
            }
            return null;
        }
    }
}
