// SharePoint's remote event receiver contract (Microsoft.SharePoint.Client.EventReceivers),
// written out the way SharePoint's own assembly declares it: the service contract
// IRemoteEventService and its data contracts, all in the namespace
// http://schemas.microsoft.com/sharepoint/remoteapp/. DataContractSerializer writes the
// members of each contract in alphabetical order, which is the order of the captures in
// ../shared/reference/sharepoint (AppEventProperties, ContextToken, CorrelationId, …), and
// the dictionaries as Arrays-namespace KeyValueOfstringanyType with i:type on each value.

using System;
using System.Collections.Generic;
using System.Runtime.Serialization;
using System.ServiceModel;

namespace Holdpoint.Interop.SharePoint
{
    public static class Namespaces
    {
        public const string RemoteApp = "http://schemas.microsoft.com/sharepoint/remoteapp/";
    }

    [ServiceContract(Namespace = Namespaces.RemoteApp)]
    public interface IRemoteEventService
    {
        // Synchronous "-ing" events: SharePoint waits for the verdict.
        [OperationContract]
        SPRemoteEventResult ProcessEvent(SPRemoteEventProperties properties);

        // "-ed" events: fire and forget (HTTP 202, no body).
        [OperationContract(IsOneWay = true)]
        void ProcessOneWayEvent(SPRemoteEventProperties properties);
    }

    // The wire carries the member names, so the numbers only matter to SharePoint itself;
    // they are SharePoint's (adding = n, added = 10000 + n).
    public enum SPRemoteEventType
    {
        ItemAdding = 1,
        ItemUpdating = 2,
        ItemDeleting = 3,
        ItemAdded = 10001,
        ItemUpdated = 10002,
        ItemDeleted = 10003,
        AppInstalled = 10701,
        AppUpgraded = 10702,
        AppUninstalling = 10703,
    }

    public enum SPRemoteEventServiceStatus
    {
        Continue,
        CancelNoError,
        CancelWithError,
        CancelWithRedirectUrl,
    }

    [DataContract(Namespace = Namespaces.RemoteApp)]
    public class SPRemoteEventProperties
    {
        [DataMember] public SPRemoteEventType EventType { get; set; }
        [DataMember] public Guid CorrelationId { get; set; }
        [DataMember] public string ContextToken { get; set; }
        [DataMember] public int CultureLCID { get; set; }
        [DataMember] public int UICultureLCID { get; set; }
        [DataMember] public string ErrorCode { get; set; }
        [DataMember] public string ErrorMessage { get; set; }
        [DataMember] public SPRemoteItemEventProperties ItemEventProperties { get; set; }
        [DataMember] public SPRemoteListEventProperties ListEventProperties { get; set; }
        [DataMember] public SPRemoteWebEventProperties WebEventProperties { get; set; }
        [DataMember] public SPRemoteSecurityEventProperties SecurityEventProperties { get; set; }
        [DataMember] public SPRemoteAppEventProperties AppEventProperties { get; set; }
        [DataMember] public SPRemoteEntityInstanceEventProperties EntityInstanceEventProperties { get; set; }
    }

    [DataContract(Namespace = Namespaces.RemoteApp)]
    public class SPRemoteItemEventProperties
    {
        [DataMember] public Dictionary<string, object> AfterProperties { get; set; }
        [DataMember] public string AfterUrl { get; set; }
        [DataMember] public Dictionary<string, object> BeforeProperties { get; set; }
        [DataMember] public string BeforeUrl { get; set; }
        [DataMember] public int CurrentUserId { get; set; }
        [DataMember] public byte[] ExternalNotificationMessage { get; set; }
        [DataMember] public bool IsBackgroundSave { get; set; }
        [DataMember] public Guid ListId { get; set; }
        [DataMember] public int ListItemId { get; set; }
        [DataMember] public string ListTitle { get; set; }
        [DataMember] public string UserDisplayName { get; set; }
        [DataMember] public string UserLoginName { get; set; }
        [DataMember] public bool Versionless { get; set; }
        [DataMember] public string WebUrl { get; set; }
    }

    [DataContract(Namespace = Namespaces.RemoteApp)]
    public class SPRemoteListEventProperties
    {
        [DataMember] public Guid FeatureId { get; set; }
        [DataMember] public string FieldName { get; set; }
        [DataMember] public string FieldXml { get; set; }
        [DataMember] public Guid ListId { get; set; }
        [DataMember] public string ListTitle { get; set; }
        [DataMember] public int TemplateId { get; set; }
        [DataMember] public string WebUrl { get; set; }
    }

    [DataContract(Namespace = Namespaces.RemoteApp)]
    public class SPRemoteWebEventProperties
    {
        [DataMember] public string FullUrl { get; set; }
        [DataMember] public string NewServerRelativeUrl { get; set; }
        [DataMember] public string ServerRelativeUrl { get; set; }
    }

    [DataContract(Namespace = Namespaces.RemoteApp)]
    public class SPRemoteSecurityEventProperties
    {
        [DataMember] public int GroupId { get; set; }
        [DataMember] public string GroupName { get; set; }
        [DataMember] public int GroupNewOwnerId { get; set; }
        [DataMember] public int GroupOwnerId { get; set; }
        [DataMember] public int GroupUserId { get; set; }
        [DataMember] public string GroupUserLoginName { get; set; }
        [DataMember] public int ObjectType { get; set; }
        [DataMember] public int PrincipalId { get; set; }
        [DataMember] public int RoleDefinitionId { get; set; }
        [DataMember] public string RoleDefinitionName { get; set; }
        [DataMember] public ulong RoleDefinitionPermissions { get; set; }
        [DataMember] public string ScopeUrl { get; set; }
        [DataMember] public string UserDisplayName { get; set; }
        [DataMember] public string UserLoginName { get; set; }
        [DataMember] public string WebFullUrl { get; set; }
        [DataMember] public Guid WebId { get; set; }
    }

    [DataContract(Namespace = Namespaces.RemoteApp)]
    public class SPRemoteAppEventProperties
    {
        [DataMember] public Uri AppWebFullUrl { get; set; }
        [DataMember] public string AssetId { get; set; }
        [DataMember] public string ContentMarket { get; set; }
        [DataMember] public Uri HostWebFullUrl { get; set; }
        [DataMember] public Version PreviousVersion { get; set; }
        [DataMember] public Guid ProductId { get; set; }
        [DataMember] public Version Version { get; set; }
    }

    [DataContract(Namespace = Namespaces.RemoteApp)]
    public class SPRemoteEntityInstanceEventProperties
    {
        [DataMember] public string EntityName { get; set; }
        [DataMember] public string EntityNamespace { get; set; }
        [DataMember] public string LobSystemInstanceName { get; set; }
        [DataMember] public string NotificationContext { get; set; }
        [DataMember] public byte[] NotificationMessage { get; set; }
    }

    // ProcessEventResult: ChangedItemProperties, ErrorMessage, RedirectUrl, Status, in that
    // (alphabetical) order, as in Microsoft's sample answer.
    [DataContract(Namespace = Namespaces.RemoteApp)]
    public class SPRemoteEventResult
    {
        [DataMember] public Dictionary<string, object> ChangedItemProperties { get; set; }
        [DataMember] public string ErrorMessage { get; set; }
        [DataMember] public string RedirectUrl { get; set; }
        [DataMember] public SPRemoteEventServiceStatus Status { get; set; }
    }
}
