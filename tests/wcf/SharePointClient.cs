// A SharePoint-shaped caller: BasicHttpBinding (SOAP 1.1, text/xml, SOAPAction
// ".../IRemoteEventService/ProcessEvent"), the contract of SharePointContract.cs, against
// Holdpoint's receiver. Usage: sharepoint RECEIVER_URL (the URL registered in SharePoint,
// receiver key included). The server must have a workflow that cancels ItemAdding on
// "Orders" over 1000 and one that records ItemAdded (see tests/wcf_interop.rs).
//
// No fault is provoked here: SharePoint's contract declares no fault contract, and Mono's
// WCF then reads any fault detail as its ExceptionDetail and throws a
// SerializationException instead of a FaultException (see ServerItemsContract.cs).

using System;
using System.Collections.Generic;
using System.ServiceModel;

using Holdpoint.Interop.SharePoint;

namespace Holdpoint.Interop.SharePoint
{
    public static class Client
    {
        public static void Run(string[] args)
        {
            string receiver = args[0];
            var binding = new BasicHttpBinding();
            var factory = new ChannelFactory<IRemoteEventService>(binding, new EndpointAddress(receiver));
            IRemoteEventService service = factory.CreateChannel();

            SPRemoteEventResult refused = service.ProcessEvent(Event(SPRemoteEventType.ItemAdding, 1250.5));
            Check.That(refused.Status == SPRemoteEventServiceStatus.CancelWithError, "status " + refused.Status);
            Check.That(refused.ErrorMessage == "orders over 1000 need approval (this one: 1250.5)",
                "error message " + refused.ErrorMessage);
            Check.That(refused.RedirectUrl == null, "no redirect url");
            Check.That(refused.ChangedItemProperties != null && refused.ChangedItemProperties.Count == 0,
                "no changed properties");
            Check.Ok("ProcessEvent CancelWithError");

            SPRemoteEventResult allowed = service.ProcessEvent(Event(SPRemoteEventType.ItemAdding, 99));
            Check.That(allowed.Status == SPRemoteEventServiceStatus.Continue, "status " + allowed.Status);
            var changed = allowed.ChangedItemProperties;
            Check.That(changed != null && changed.Count == 3, "three changed properties");
            Check.That((string) changed["Title"] == "Order 4711 (checked by Ann Example)", "Title " + changed["Title"]);
            Check.That(changed["Priority"] is int && (int) changed["Priority"] == 2, "Priority as xs:int");
            Check.That(changed["Checked"] is bool && (bool) changed["Checked"], "Checked as xs:boolean");
            Check.Ok("ProcessEvent Continue with ChangedItemProperties");

            // Returns once the HTTP answer (202, no body) is in: the event is queued then.
            service.ProcessOneWayEvent(Event(SPRemoteEventType.ItemAdded, 1250.5));
            Check.Ok("ProcessOneWayEvent");

            ((IClientChannel) service).Close();
        }

        static SPRemoteEventProperties Event(SPRemoteEventType type, double amount)
        {
            var after = new Dictionary<string, object>();
            after["Title"] = "Order 4711";
            after["Amount"] = amount;
            return new SPRemoteEventProperties
            {
                EventType = type,
                CorrelationId = Guid.NewGuid(),
                ContextToken = "",
                CultureLCID = 1033,
                UICultureLCID = 1031,
                ErrorCode = "",
                ErrorMessage = "",
                ItemEventProperties = new SPRemoteItemEventProperties
                {
                    AfterProperties = after,
                    BeforeProperties = new Dictionary<string, object>(),
                    BeforeUrl = "",
                    CurrentUserId = 7,
                    ListId = new Guid("6f0d2f52-3d7b-4b41-9b43-0b8f2f4c1a10"),
                    ListItemId = type == SPRemoteEventType.ItemAdded ? 12 : 0,
                    ListTitle = "Orders",
                    UserDisplayName = "Ann Example",
                    UserLoginName = "i:0#.f|membership|ann@contoso.example",
                    WebUrl = "https://contoso.sharepoint.com/sites/sales",
                },
            };
        }
    }
}
