// What a WS-Addressing client (MessageVersion.Soap12WSAddressing10) relies on in every
// answer: WS-Addressing 1.0 gives a reply a wsa:Action and a wsa:RelatesTo naming the
// MessageID of its request, and WCF clients use them to match replies to requests. Mono's
// HTTP channel pairs replies by connection and would let a reply without them pass, so
// this inspector checks them.

using System;
using System.ServiceModel;
using System.ServiceModel.Channels;
using System.ServiceModel.Description;
using System.ServiceModel.Dispatcher;
using System.Xml;

namespace Holdpoint.Interop.ServerItems
{
    public class AddressingCheck : IEndpointBehavior, IClientMessageInspector
    {
        public int Replies;

        public object BeforeSendRequest(ref Message request, IClientChannel channel)
        {
            return request.Headers.MessageId;
        }

        public void AfterReceiveReply(ref Message reply, object correlationState)
        {
            var sent = (UniqueId) correlationState;
            Check.That(!String.IsNullOrEmpty(reply.Headers.Action),
                "the reply carries wsa:Action");
            Check.That(reply.Headers.RelatesTo != null && reply.Headers.RelatesTo == sent,
                "the reply's wsa:RelatesTo " + reply.Headers.RelatesTo + " names the request's MessageID " + sent);
            Replies++;
        }

        public void AddBindingParameters(ServiceEndpoint endpoint, BindingParameterCollection parameters) { }

        public void ApplyClientBehavior(ServiceEndpoint endpoint, ClientRuntime runtime)
        {
            runtime.MessageInspectors.Add(this);
        }

        public void ApplyDispatchBehavior(ServiceEndpoint endpoint, EndpointDispatcher dispatcher) { }

        public void Validate(ServiceEndpoint endpoint) { }
    }
}
